package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/scenario"
)

// The sandbox controls against a running sandbox (SPEC §4.5: every control
// is also a CLI subcommand): clock, reset and scenarios call its admin API.

// remote is a running sandbox and its admin token.
type remote struct {
	base, token, ca string
	hc              *http.Client
	out             io.Writer
}

// remoteFlags parses a remote command's flags, which may come before or
// after its arguments, and returns the arguments. --sandbox defaults to
// SANDBOX_URL, --admin-token to SANDBOX_ADMIN_TOKEN.
func remoteFlags(ctx context.Context, name, usage string, args []string, out, errOut io.Writer, extra func(*flag.FlagSet)) (*remote, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	r := &remote{out: out}
	fs.StringVar(&r.base, "sandbox", cmpOr(os.Getenv("SANDBOX_URL"), DefaultURL), "the sandbox's base URL (SANDBOX_URL)")
	token := secretFlag(fs, "admin-token", "SANDBOX_ADMIN_TOKEN", "the sandbox's admin `token`, printed at start-up (SANDBOX_ADMIN_TOKEN)")
	fs.StringVar(&r.ca, "ca", "", "PEM file of the CA to trust over TLS (default: the sandbox's own)")
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(errOut, "Usage: %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	var rest []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
	if r.token = token.Value(); r.token == "" {
		return nil, nil, errors.New("the admin token is needed: --admin-token or SANDBOX_ADMIN_TOKEN (the sandbox prints it at start-up)")
	}
	r.base = strings.TrimRight(r.base, "/")
	var err error
	r.hc, err = tppHTTP(ctx, r.base, r.ca)
	return r, rest, err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// call sends an admin request and prints the JSON answer indented; a
// non-2xx answer is an error carrying the sandbox's message.
func (r *remote) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, e.Error, e.Description)
		}
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, shorten(b))
	}
	if len(b) > 0 {
		var v any
		if json.Unmarshal(b, &v) == nil {
			enc := json.NewEncoder(r.out)
			enc.SetIndent("", "  ")
			_ = enc.Encode(v)
		}
	}
	return b, nil
}

// runClock is `sandbox clock [advance 91d]`.
func runClock(ctx context.Context, args []string, out, errOut io.Writer) error {
	r, rest, err := remoteFlags(ctx, "sandbox clock", "sandbox clock [advance <36h|91d>] [flags]\n\nadvance moves the clock forward only, to at most 100 years (36500d) ahead of real time", args, out, errOut, nil)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0:
		_, err = r.call(ctx, http.MethodGet, "/sandbox/clock", nil)
	case len(rest) == 2 && rest[0] == "advance":
		_, err = r.call(ctx, http.MethodPost, "/sandbox/clock", map[string]string{"advance": rest[1]})
	default:
		err = errors.New("usage: sandbox clock [advance <36h|91d>]")
	}
	return err
}

// runReset is `sandbox reset`.
func runReset(ctx context.Context, args []string, out, errOut io.Writer) error {
	r, rest, err := remoteFlags(ctx, "sandbox reset", "sandbox reset [flags]", args, out, errOut, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q", rest[0])
	}
	if _, err := r.call(ctx, http.MethodPost, "/sandbox/reset", nil); err != nil {
		return err
	}
	fmt.Fprintln(out, "reset: the bank, consents, tokens, payments, scenarios and clock are back to the seed")
	return nil
}

const scenariosUsage = `sandbox scenarios list | show NAME | put FILE.yaml | delete NAME
       | activate NAME [--times N] | deactivate
       | bind (--psu USER | --amount 0.66) NAME | unbind (--psu USER | --amount 0.66)   [flags]`

// runScenarios is `sandbox scenarios ...` over /sandbox/scenarios.
func runScenarios(ctx context.Context, args []string, out, errOut io.Writer) error {
	var times int
	var psu, amount string
	r, rest, err := remoteFlags(ctx, "sandbox scenarios", scenariosUsage, args, out, errOut, func(fs *flag.FlagSet) {
		fs.IntVar(&times, "times", 0, "activate: shape this many requests, then clear (0: until deactivated)")
		fs.StringVar(&psu, "psu", "", "bind/unbind: the PSU's username")
		fs.StringVar(&amount, "amount", "", "bind/unbind: a payment amount, e.g. 0.66")
	})
	if err != nil {
		return err
	}
	nargs := map[string]int{"list": 0, "show": 1, "put": 1, "delete": 1, "activate": 1, "deactivate": 0, "bind": 1, "unbind": 0}
	n, known := nargs[firstOr(rest, "")]
	if !known || len(rest) != n+1 {
		return errors.New("usage: " + scenariosUsage)
	}
	name := ""
	if n == 1 {
		name = rest[1]
	}
	esc := url.PathEscape(name)
	switch rest[0] {
	case "list":
		_, err = r.call(ctx, http.MethodGet, "/sandbox/scenarios", nil)
	case "show":
		_, err = r.call(ctx, http.MethodGet, "/sandbox/scenarios/"+esc, nil)
	case "delete":
		_, err = r.call(ctx, http.MethodDelete, "/sandbox/scenarios/"+esc, nil)
	case "put":
		var sc scenario.Scenario
		var b []byte
		if b, err = os.ReadFile(name); err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&sc); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := sc.Validate(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		_, err = r.call(ctx, http.MethodPut, "/sandbox/scenarios/"+url.PathEscape(sc.Name), sc)
	case "activate":
		_, err = r.call(ctx, http.MethodPost, "/sandbox/scenarios/active", map[string]any{"name": name, "times": times})
	case "deactivate":
		_, err = r.call(ctx, http.MethodDelete, "/sandbox/scenarios/active", nil)
	case "bind", "unbind":
		err = r.bind(ctx, rest[0] == "bind", psu, amount, name)
	}
	return err
}

func firstOr(xs []string, def string) string {
	if len(xs) == 0 {
		return def
	}
	return xs[0]
}

// bind changes one binding: it reads the bindings, changes one, puts them.
func (r *remote) bind(ctx context.Context, bind bool, psu, amount, name string) error {
	if (psu == "") == (amount == "") {
		return errors.New("give exactly one of --psu and --amount")
	}
	quiet := *r
	quiet.out = io.Discard
	b, err := quiet.call(ctx, http.MethodGet, "/sandbox/scenarios", nil)
	if err != nil {
		return err
	}
	var cat scenario.Catalogue
	if err := json.Unmarshal(b, &cat); err != nil {
		return err
	}
	m, key := cat.Bindings.PSUs, psu
	if amount != "" {
		if _, err := strconv.ParseFloat(amount, 64); err != nil {
			return fmt.Errorf("--amount %q is not an amount", amount)
		}
		m, key = cat.Bindings.Amounts, amount
	}
	if m == nil {
		m = map[string]string{}
		if amount != "" {
			cat.Bindings.Amounts = m
		} else {
			cat.Bindings.PSUs = m
		}
	}
	if bind {
		m[key] = name
	} else {
		delete(m, key)
	}
	_, err = r.call(ctx, http.MethodPut, "/sandbox/scenarios/bindings", cat.Bindings)
	return err
}

const snapshotUsage = "sandbox snapshot save NAME | restore NAME | list | delete NAME   [flags]"

// runSnapshot is `sandbox snapshot ...` over /sandbox/snapshots.
func runSnapshot(ctx context.Context, args []string, out, errOut io.Writer) error {
	r, rest, err := remoteFlags(ctx, "sandbox snapshot", snapshotUsage, args, out, errOut, nil)
	if err != nil {
		return err
	}
	nargs := map[string]int{"save": 1, "restore": 1, "list": 0, "delete": 1}
	n, known := nargs[firstOr(rest, "")]
	if !known || len(rest) != n+1 {
		return errors.New("usage: " + snapshotUsage)
	}
	switch rest[0] {
	case "save":
		_, err = r.call(ctx, http.MethodPost, "/sandbox/snapshots", map[string]string{"name": rest[1]})
	case "restore":
		if _, err = r.call(ctx, http.MethodPost, "/sandbox/snapshots/"+url.PathEscape(rest[1])+"/restore", nil); err == nil {
			fmt.Fprintf(out, "restored %s\n", rest[1])
		}
	case "list":
		_, err = r.call(ctx, http.MethodGet, "/sandbox/snapshots", nil)
	case "delete":
		_, err = r.call(ctx, http.MethodDelete, "/sandbox/snapshots/"+url.PathEscape(rest[1]), nil)
	}
	return err
}

const psusUsage = "sandbox psus add FILE.yaml|FILE.json ... | delete USERNAME ...   [flags]\n\n" +
	"add: each file holds one persona or a psus: list (the fixtures' shape, see fixtures/psus.yaml);\n" +
	"each is POSTed to /sandbox/psus and printed as listed. delete: removes PSUs added that way."

// runPSUsRemote is `sandbox psus add FILE... | delete NAME...` over
// /sandbox/psus. Files are checked whole before anything is sent.
func runPSUsRemote(ctx context.Context, args []string, out, errOut io.Writer) error {
	r, rest, err := remoteFlags(ctx, "sandbox psus "+args[0], psusUsage, args[1:], out, errOut, nil)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return fmt.Errorf("usage: %s", psusUsage)
	}
	if args[0] == "delete" {
		for _, name := range rest {
			if _, err := r.call(ctx, http.MethodDelete, "/sandbox/psus/"+url.PathEscape(name), nil); err != nil {
				return err
			}
			fmt.Fprintf(out, "deleted %s\n", name)
		}
		return nil
	}
	var personas []any
	for _, path := range rest {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := fixtures.ParsePersonas(b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if list, ok := doc["psus"].([]any); ok && len(doc) == 1 {
			personas = append(personas, list...)
		} else {
			personas = append(personas, doc)
		}
	}
	for _, p := range personas {
		if _, err := r.call(ctx, http.MethodPost, "/sandbox/psus", p); err != nil {
			return err
		}
	}
	return nil
}
