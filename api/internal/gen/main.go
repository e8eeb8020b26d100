// Command gen writes the contracts made from official files:
// api/ukob-v4.0.yaml (the default) and, with -standard berlin-group,
// api/berlin-group-1.3.12.yaml (berlin.go). The UK one is the contract for UK Open
// Banking Read/Write v4.0, from the official v4.0 OpenAPI files and the
// hand-written parts in layout.yaml: the operations we serve and their
// order, parameters, generic responses, examples and the events schemas.
// Operations, response headers and schemas come from the official files;
// schemas keep their names, enums, patterns, lengths and required lists.
//
// Run it from the repository root after changing layout.yaml or the
// official files:
//
//	go run ./api/internal/gen [-ref ../shared/ref] [-out api/ukob-v4.0.yaml]
//	go run ./api/internal/gen -standard berlin-group
//
// Nothing needs it at build or test time: its output is committed.
package main

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

//go:embed layout.yaml
var layoutYAML []byte

func main() {
	ref := flag.String("ref", defaultRef(), "folder holding obie/v4.0/*-openapi.yaml and berlin-group/ (the official files)")
	standard := flag.String("standard", "ukob-v4.0", "the contract to write: ukob-v4.0 or berlin-group")
	out := flag.String("out", "", "file to write (default: api/ukob-v4.0.yaml, or api/berlin-group-1.3.12.yaml)")
	flag.Parse()
	var raw []byte
	var err error
	switch *standard {
	case "ukob-v4.0":
		*out = cmp.Or(*out, filepath.Join("api", "ukob-v4.0.yaml"))
		if raw, err = generate(*ref); err == nil {
			err = check(raw)
		}
	case "berlin-group":
		*out = cmp.Or(*out, filepath.Join("api", "berlin-group-1.3.12.yaml"))
		if raw, err = generateBerlin(*ref); err == nil {
			err = checkBerlin(raw)
		}
	default:
		err = fmt.Errorf("-standard %q: ukob-v4.0 or berlin-group", *standard)
	}
	if err == nil {
		err = os.WriteFile(*out, raw, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// defaultRef is $SANDBOX_REF_DIR, or the shared folder beside the
// repository, as the tests find it.
func defaultRef() string {
	if d := os.Getenv("SANDBOX_REF_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "shared", "ref")
}

// check loads the output as the sandbox will, which also validates every
// example against its schema; it reports every failing example at once.
func check(raw []byte) error {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return fmt.Errorf("output does not load: %w", err)
	}
	if err := doc.Validate(ctx, openapi3.DisableExamplesValidation()); err != nil {
		return fmt.Errorf("output does not validate: %w", err)
	}
	var bad []string
	examples := func(where string, content openapi3.Content) {
		for ct, media := range content {
			if media.Example == nil || media.Schema == nil || media.Schema.Value == nil {
				continue
			}
			err := media.Schema.Value.VisitJSON(media.Example, openapi3.MultiErrors())
			var me openapi3.MultiError
			if !errors.As(err, &me) {
				me = openapi3.MultiError{err}
			}
			for _, e := range me {
				var se *openapi3.SchemaError
				if errors.As(e, &se) {
					bad = append(bad, fmt.Sprintf("%s (%s): /%s: %s", where, ct, strings.Join(se.JSONPointer(), "/"), se.Reason))
				} else if e != nil {
					bad = append(bad, fmt.Sprintf("%s (%s): %v", where, ct, e))
				}
			}
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				examples(method+" "+path+" request", op.RequestBody.Value.Content)
			}
		}
	}
	for name, r := range doc.Components.Responses {
		examples("response "+name, r.Value.Content)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, media := range op.RequestBody.Value.Content {
					bad = namespaced(bad, method+" "+path+" request", media.Schema, media.Example)
				}
			}
		}
	}
	for name, r := range doc.Components.Responses {
		for _, media := range r.Value.Content {
			bad = namespaced(bad, "response "+name, media.Schema, media.Example)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		bad = slices.Compact(bad)
		return fmt.Errorf("examples do not match their schemas:\n%s", strings.Join(bad, "\n"))
	}
	if err := doc.Validate(ctx); err != nil {
		return fmt.Errorf("output does not validate: %w", err)
	}
	return nil
}

func generate(refDir string) ([]byte, error) {
	var layout yaml.Node
	if err := yaml.Unmarshal(layoutYAML, &layout); err != nil {
		return nil, fmt.Errorf("layout.yaml: %w", err)
	}
	lay := layout.Content[0]
	var srcs []*source
	if err := get(lay, "sources").Decode(&srcs); err != nil {
		return nil, fmt.Errorf("layout.yaml sources: %w", err)
	}
	for _, s := range srcs {
		raw, err := os.ReadFile(filepath.Join(refDir, "obie", "v4.0", s.File))
		if err != nil {
			return nil, err
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", s.File, err)
		}
		s.doc = doc.Content[0]
	}
	g := &generator{layout: get(lay, "document"), srcs: srcs, always: get(lay, "always")}
	doc, err := g.run()
	if err != nil {
		return nil, err
	}
	tidy(doc)
	var buf bytes.Buffer
	buf.WriteString(get(lay, "header").Value)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// namespaced checks an example's values against the x-namespaced-enum lists
// of its schema, which kin-openapi leaves alone (it is an extension).
func namespaced(bad []string, where string, s *openapi3.SchemaRef, v any) []string {
	if s == nil || s.Value == nil || v == nil {
		return bad
	}
	if list, ok := s.Value.Extensions["x-namespaced-enum"].([]any); ok {
		if str, ok := v.(string); ok && !slices.Contains(list, any(str)) {
			bad = append(bad, fmt.Sprintf("%s: %q is not in the x-namespaced-enum list", where, str))
		}
	}
	for _, alt := range append(append(append([]*openapi3.SchemaRef{}, s.Value.OneOf...), s.Value.AnyOf...), s.Value.AllOf...) {
		bad = namespaced(bad, where, alt, v)
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			bad = namespaced(bad, where+"."+k, s.Value.Properties[k], e)
		}
	case []any:
		for _, e := range x {
			bad = namespaced(bad, where+"[]", s.Value.Items, e)
		}
	}
	return bad
}
