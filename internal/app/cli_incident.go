package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// runIncident is `sandbox incident start|list|report`: the incident
// response drills of a running sandbox (POST /sandbox/incidents).
func runIncident(ctx context.Context, args []string, out, errOut io.Writer) error {
	var callback string
	var html bool
	r, rest, err := remoteFlags(ctx, "sandbox incident", "sandbox incident start <compromised-tpp|signing-key|dependency-down> [--callback-url URL]\n"+
		"       sandbox incident list\n       sandbox incident report <id> [--html]\n\n"+
		"start runs a drill end to end (detection, containment, eradication, recovery) and prints its record;\n"+
		"report prints the post-incident report (JSON, or printable HTML)", args, out, errOut, func(fs *flag.FlagSet) {
		fs.StringVar(&callback, "callback-url", "", "where the drill's TPP takes its event notifications (…/event-notifications); default: the drill's own receiver")
		fs.BoolVar(&html, "html", false, "report: the printable HTML page")
	})
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 2 && rest[0] == "start":
		body := map[string]string{"scenario": rest[1]}
		if callback != "" {
			body["callback_url"] = callback
		}
		_, err = r.call(ctx, http.MethodPost, "/sandbox/incidents", body)
	case len(rest) == 1 && rest[0] == "list":
		_, err = r.call(ctx, http.MethodGet, "/sandbox/incidents", nil)
	case len(rest) == 2 && rest[0] == "report":
		path := "/sandbox/incidents/" + url.PathEscape(rest[1]) + "/report"
		if html {
			o := r.out
			r.out = io.Discard
			var b []byte
			b, err = r.call(ctx, http.MethodGet, path+"?format=html", nil)
			r.out = o
			if err == nil {
				_, err = o.Write(b)
			}
		} else {
			_, err = r.call(ctx, http.MethodGet, path, nil)
		}
	default:
		err = errors.New("usage: sandbox incident start <compromised-tpp|signing-key|dependency-down> | list | report <id> [--html]")
	}
	if err != nil {
		return fmt.Errorf("incident: %w", err)
	}
	return nil
}
