package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// source is one official file and where its operations go in our contract.
type source struct {
	File    string            `yaml:"file"`    // in <ref>/obie/v4.0/
	Prefix  string            `yaml:"prefix"`  // our path prefix for the file's paths
	Exclude []string          `yaml:"exclude"` // the file's path prefixes we do not serve
	Suffix  string            `yaml:"suffix"`  // added to a schema name an earlier file uses for another shape
	Params  map[string]string `yaml:"params"`  // official parameter -> ours, where they differ
	Signed  bool              `yaml:"signed"`  // its error responses with x-jws-signature become <name>Signed
	// Responses renames official responses (InternalError -> 500Error),
	// so that files naming the same response differently share ours.
	Responses map[string]string `yaml:"responses"`

	doc    *yaml.Node
	roots  []string          // official schema names its operations and responses use
	rename map[string]string // official schema name -> ours
	memo   map[string]string // canonical forms
}

func (s *source) schema(name string) *yaml.Node { return at(s.doc, "components", "schemas", name) }

// inScope reports whether the file's path is one we serve.
func (s *source) inScope(path string) bool {
	for _, p := range s.Exclude {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

// JSON media types our contract accepts and answers with.
var jsonTypes = []string{"application/json; charset=utf-8", "application/json"}

var methods = []string{"get", "put", "post", "delete", "patch"}

// Header parameters in the order our operations list them, after the path
// parameters; the always list, query parameters, the layout's extra
// parameters and then these request-signing ones follow.
var (
	leadingHeaders  = []string{"Authorization", "x-fapi-auth-date", "x-fapi-customer-ip-address", "x-fapi-interaction-id", "x-customer-user-agent"}
	trailingHeaders = []string{"x-idempotency-key", "x-jws-signature", "payload-version"}
)

type generator struct {
	layout *yaml.Node // the document part of layout.yaml
	srcs   []*source
	always *yaml.Node // parameters every operation takes
	pats   map[string]string

	out        *yaml.Node
	responses  map[string]responseUse // our response name -> its official origin
	respOrder  []string
	usedParams map[string]bool
	reqRoots   []string           // official schema names of request bodies (closed, see closeRequest)
	reqSrc     map[string]*source // and the file of each
	owner      map[string]owned   // our schema name -> where it is emitted from
}

type responseUse struct {
	src  *source
	name string // official name
}

type owned struct {
	src   *source
	name  string // official name
	canon string
}

func (g *generator) run() (*yaml.Node, error) {
	g.responses = map[string]responseUse{}
	g.usedParams = map[string]bool{}
	g.reqSrc = map[string]*source{}
	g.owner = map[string]owned{}
	g.pats = map[string]string{}
	pairs(at(g.layout, "x-patterns"), func(k string, v *yaml.Node) { g.pats[k] = v.Value })

	g.out = mapping()
	pairs(g.layout, func(k string, v *yaml.Node) {
		if k != "paths" && k != "components" && !strings.HasPrefix(k, "x-") {
			set(g.out, k, clone(v))
		}
	})
	paths, err := g.paths()
	if err != nil {
		return nil, err
	}
	set(g.out, "paths", paths)
	comps := mapping()
	set(g.out, "components", comps)
	params, err := g.parameters()
	if err != nil {
		return nil, err
	}
	set(comps, "parameters", params)
	set(comps, "headers", clone(at(g.layout, "components", "headers")))
	resps, err := g.responsesSection()
	if err != nil {
		return nil, err
	}
	set(comps, "responses", resps)
	set(comps, "securitySchemes", clone(at(g.layout, "components", "securitySchemes")))
	schemas, err := g.schemas()
	if err != nil {
		return nil, err
	}
	set(comps, "schemas", schemas)
	if err := g.checkRefs(g.out); err != nil {
		return nil, err
	}
	return g.out, nil
}

// sourceOf is the official file serving our path: of those whose prefix
// it has, the one that has the path (two files may share a prefix: the
// payment-initiation and VRP files both serve /pisp), else the one with
// the longest prefix.
func (g *generator) sourceOf(path string) *source {
	var best *source
	has := func(s *source) bool { return s != nil && at(s.doc, "paths", strings.TrimPrefix(path, s.Prefix)) != nil }
	for _, s := range g.srcs {
		if !strings.HasPrefix(path, s.Prefix+"/") {
			continue
		}
		if best == nil || (has(s) && !has(best)) || (has(s) == has(best) && len(s.Prefix) > len(best.Prefix)) {
			best = s
		}
	}
	return best
}

// paths builds our operations, in the layout's order, each from its
// official twin; every official operation in scope must be in the layout.
func (g *generator) paths() (*yaml.Node, error) {
	out := mapping()
	seen := map[string]bool{}
	var err error
	pairs(at(g.layout, "paths"), func(path string, item *yaml.Node) {
		if err != nil {
			return
		}
		src := g.sourceOf(path)
		if src == nil {
			err = fmt.Errorf("layout path %s: no source", path)
			return
		}
		offPath := strings.TrimPrefix(path, src.Prefix)
		offItem := at(src.doc, "paths", offPath)
		if offItem == nil || !src.inScope(offPath) {
			err = fmt.Errorf("layout path %s: %s has no %s in scope", path, src.File, offPath)
			return
		}
		ourItem := mapping()
		pairs(item, func(method string, extra *yaml.Node) {
			if err != nil {
				return
			}
			offOp := get(offItem, method)
			if offOp == nil {
				err = fmt.Errorf("layout %s %s: not in %s", method, path, src.File)
				return
			}
			var op *yaml.Node
			op, err = g.operation(src, extra, offOp)
			if err != nil {
				err = fmt.Errorf("%s %s: %w", method, path, err)
				return
			}
			set(ourItem, method, op)
			seen[src.File+" "+method+" "+offPath] = true
		})
		set(out, path, ourItem)
	})
	if err != nil {
		return nil, err
	}
	for _, s := range g.srcs {
		pairs(at(s.doc, "paths"), func(path string, item *yaml.Node) {
			for _, m := range methods {
				if get(item, m) != nil && s.inScope(path) && !seen[s.File+" "+m+" "+path] && err == nil {
					err = fmt.Errorf("%s %s %s is in scope but not in the layout", s.File, m, path)
				}
			}
		})
	}
	return out, err
}

var layoutOpKeys = []string{"summary", "description", "x-parameters", "x-body-description", "x-body-example", "x-body-media",
	"x-body-schema", "x-security"}

func (g *generator) operation(src *source, extra, off *yaml.Node) (*yaml.Node, error) {
	var err error
	pairs(extra, func(k string, _ *yaml.Node) {
		if !slices.Contains(layoutOpKeys, k) && err == nil {
			err = fmt.Errorf("layout key %q unknown", k)
		}
	})
	if err != nil {
		return nil, err
	}
	op := mapping()
	set(op, "tags", clone(get(off, "tags")))
	for _, k := range []string{"summary", "description"} {
		if v := get(extra, k); v != nil {
			set(op, k, clone(v))
		} else if v := get(off, k); v != nil && k == "summary" {
			set(op, k, clone(v))
		}
	}
	set(op, "operationId", clone(get(off, "operationId")))
	params, err := g.opParameters(src, extra, off)
	if err != nil {
		return nil, err
	}
	set(op, "parameters", params)
	body := get(off, "requestBody")
	if body != nil {
		rb, err := g.requestBody(src, extra, body)
		if err != nil {
			return nil, err
		}
		set(op, "requestBody", rb)
	} else if get(extra, "x-body-example") != nil {
		return nil, fmt.Errorf("x-body-example but no request body")
	}
	resps, err := g.opResponses(src, off, body != nil)
	if err != nil {
		return nil, err
	}
	set(op, "responses", resps)
	if x := get(extra, "x-security"); x != nil {
		// Where the official file and its documentation disagree (the VRP
		// file lists client credentials for every operation; its pages ask
		// for the PSU's authorization code on payments and funds checks).
		set(op, "security", seq(mapping(x.Value, seq(str("payments")))))
	} else {
		set(op, "security", security(get(off, "security")))
	}
	return op, nil
}

// opParameters lists the official parameters in our order, under our names,
// with the layout's always and extra parameters.
func (g *generator) opParameters(src *source, extra, off *yaml.Node) (*yaml.Node, error) {
	var path, query []string
	headers := map[string]bool{}
	for _, p := range get(off, "parameters").Content {
		// Our parameters are named as the official components are.
		def, name := p, refName(p)
		if name != "" {
			def = at(src.doc, "components", "parameters", name)
		} else {
			name = get(def, "name").Value
		}
		if our, ok := src.Params[name]; ok {
			name = our
		}
		switch in := get(def, "in").Value; in {
		case "path":
			path = append(path, name)
		case "query":
			query = append(query, name)
		case "header":
			headers[name] = true
		default:
			return nil, fmt.Errorf("parameter %s in %s", name, in)
		}
	}
	names := path
	for _, h := range leadingHeaders {
		if headers[h] {
			names = append(names, h)
			delete(headers, h)
		}
	}
	for _, a := range g.always.Content {
		names = append(names, a.Value)
	}
	names = append(names, query...)
	if x := get(extra, "x-parameters"); x != nil {
		for _, n := range x.Content {
			names = append(names, n.Value)
		}
	}
	for _, h := range trailingHeaders {
		if ours, ok := src.Params[h]; ok {
			h = ours
		}
		if headers[h] {
			names = append(names, h)
			delete(headers, h)
		}
	}
	if len(headers) > 0 {
		return nil, fmt.Errorf("header parameters without a place: %v", headers)
	}
	out := seq()
	for _, n := range names {
		if at(g.layout, "components", "parameters", n) == nil {
			return nil, fmt.Errorf("parameter %s is not in the layout's components", n)
		}
		g.usedParams[n] = true
		out.Content = append(out.Content, ref("parameters", n))
	}
	return out, nil
}

func (g *generator) requestBody(src *source, extra, body *yaml.Node) (*yaml.Node, error) {
	desc := get(extra, "x-body-description")
	if desc == nil {
		return nil, fmt.Errorf("request body without x-body-description in the layout")
	}
	if media := get(extra, "x-body-media"); media != nil && media.Kind == yaml.MappingNode {
		// A body the official file cannot describe (a payment file, JSON
		// or XML, where it has an empty closed object): each media type
		// ours takes, with the layout's schema for it; one of them must be
		// the official file's.
		content, official := mapping(), false
		var err error
		pairs(media, func(ct string, schema *yaml.Node) {
			if at(g.layout, "components", "schemas", schema.Value) == nil && err == nil {
				err = fmt.Errorf("x-body-media %s: %s is not a schema of the layout's", ct, schema.Value)
			}
			official = official || get(get(body, "content"), ct) != nil
			set(content, ct, mapping("schema", ref("schemas", schema.Value)))
		})
		if err == nil && !official {
			err = fmt.Errorf("x-body-media: none of the official body's media types")
		}
		if err != nil {
			return nil, err
		}
		return mapping("description", clone(desc), "required", true, "content", content), nil
	}
	if media := get(extra, "x-body-media"); media != nil {
		// The official body is not JSON with a schema (a JSON Patch as a
		// string): ours is the layout's schema under that media type.
		schema := get(extra, "x-body-schema")
		if schema == nil || at(g.layout, "components", "schemas", schema.Value) == nil {
			return nil, fmt.Errorf("x-body-media needs x-body-schema, a schema of the layout's")
		}
		if get(get(body, "content"), media.Value) == nil {
			return nil, fmt.Errorf("the official body has no %s", media.Value)
		}
		m := mapping("schema", ref("schemas", schema.Value))
		if ex := get(extra, "x-body-example"); ex != nil {
			set(m, "example", clone(ex))
		}
		return mapping("description", clone(desc), "required", true, "content", mapping(media.Value, m)), nil
	}
	name := ""
	pairs(get(body, "content"), func(ct string, media *yaml.Node) {
		if slices.Contains(jsonTypes, ct) && name == "" {
			name = refName(get(media, "schema"))
		}
	})
	if name == "" {
		return nil, fmt.Errorf("request body has no JSON schema reference")
	}
	src.roots = append(src.roots, name)
	g.reqRoots = append(g.reqRoots, name)
	g.reqSrc[name] = src
	content := mapping()
	for _, ct := range jsonTypes {
		media := mapping("schema", ref("schemas", "\x00"+src.File+"\x00"+name)) // resolved in schemas()
		if ex := get(extra, "x-body-example"); ex != nil {
			set(media, "example", clone(ex))
		}
		set(content, ct, media)
	}
	return mapping("description", clone(desc), "required", true, "content", content), nil
}

// opResponses maps the official responses to ours, adding 413 where there is
// a body and 503 everywhere (what the sandbox answers beyond the standard).
func (g *generator) opResponses(src *source, off *yaml.Node, body bool) (*yaml.Node, error) {
	type entry struct {
		code   string
		name   string
		inline *yaml.Node // a response written in place, without a body
	}
	var list []entry
	var err error
	pairs(get(off, "responses"), func(code string, r *yaml.Node) {
		offName := refName(r)
		if offName == "" && get(r, "content") == nil && get(r, "description") != nil {
			// No body, described in place (the VRP file's 204 of a
			// delete): it stays so.
			list = append(list, entry{code: code, inline: mapping("description", clone(get(r, "description")))})
			return
		}
		if offName == "" && err == nil {
			err = fmt.Errorf("response %s is not a reference", code)
			return
		}
		def := at(src.doc, "components", "responses", offName)
		name := offName
		if our, ok := src.Responses[offName]; ok {
			name = our
		}
		if src.Signed && strings.HasSuffix(name, "Error") && get(get(def, "headers"), "x-jws-signature") != nil {
			name += "Signed"
		}
		if e := g.useResponse(name, src, offName); e != nil && err == nil {
			err = e
		}
		list = append(list, entry{code: code, name: name})
	})
	if err != nil {
		return nil, err
	}
	ours := []entry{{code: "503", name: "503Error"}}
	if body {
		ours = append(ours, entry{code: "413", name: "413Error"})
	}
	for _, e := range ours {
		if err := g.useResponse(e.name, nil, ""); err != nil {
			return nil, err
		}
		list = append(list, e)
	}
	slices.SortStableFunc(list, func(a, b entry) int {
		x, _ := strconv.Atoi(a.code)
		y, _ := strconv.Atoi(b.code)
		return x - y
	})
	out := mapping()
	for _, e := range list {
		if e.inline != nil {
			set(out, e.code, e.inline)
			continue
		}
		set(out, e.code, ref("responses", e.name))
	}
	return out, nil
}

// useResponse records where our response comes from. The layout may define
// it completely (then the official one only names it), otherwise every use
// must come from the same official response.
func (g *generator) useResponse(name string, src *source, offName string) error {
	prev, ok := g.responses[name]
	if !ok {
		g.responses[name] = responseUse{src, offName}
		g.respOrder = append(g.respOrder, name)
		return nil
	}
	if layoutComplete(at(g.layout, "components", "responses", name)) {
		return nil
	}
	if prev.src != src || prev.name != offName {
		return fmt.Errorf("response %s comes from %s and %s: define it in the layout", name, prev.src.File, src.File)
	}
	return nil
}

// layoutComplete reports whether the layout defines a response itself (it
// has a description; x-schema and x-example then give the body of both JSON
// media types) rather than only the example of the official one.
func layoutComplete(r *yaml.Node) bool { return get(r, "description") != nil }

// security copies the official requirements; one that lists several scopes
// (the events API: any of accounts, payments, fundsconfirmations) becomes
// one alternative per scope, since a requirement's scopes are all required.
func security(off *yaml.Node) *yaml.Node {
	out := seq()
	for _, req := range off.Content {
		pairs(req, func(scheme string, scopes *yaml.Node) {
			if len(scopes.Content) <= 1 {
				out.Content = append(out.Content, clone(req))
				return
			}
			for _, s := range scopes.Content {
				out.Content = append(out.Content, mapping(scheme, seq(str(s.Value))))
			}
		})
	}
	return out
}

// parameters is the layout's parameters; one given as {x-official: FILE} is
// the official file's definition (its pattern made Go-compatible).
func (g *generator) parameters() (*yaml.Node, error) {
	out := mapping()
	var err error
	pairs(at(g.layout, "components", "parameters"), func(name string, p *yaml.Node) {
		if err != nil {
			return
		}
		if !g.usedParams[name] {
			err = fmt.Errorf("layout parameter %s is not used", name)
			return
		}
		if f := get(p, "x-official"); f != nil {
			var src *source
			for _, s := range g.srcs {
				if s.File == f.Value {
					src = s
				}
			}
			def := at(src.doc, "components", "parameters", name)
			if src == nil || def == nil {
				err = fmt.Errorf("parameter %s: not in %s", name, f.Value)
				return
			}
			p = clone(def)
			if d := get(p, "description"); d != nil {
				d.Value = shorten(d.Value)
			}
			if s := get(p, "schema"); s != nil {
				if pt := get(s, "pattern"); pt != nil {
					pt.Value, err = g.pattern(pt.Value)
				}
			}
		} else {
			p = clone(p)
		}
		set(out, name, p)
	})
	return out, err
}

// pattern returns an official pattern Go's regexp (RE2) can compile: as it
// is, or as the layout's x-patterns rewrites it.
func (g *generator) pattern(p string) (string, error) {
	if r, ok := g.pats[p]; ok {
		p = r
	}
	if _, err := regexp.Compile(p); err != nil {
		return "", fmt.Errorf("pattern %q: %w (add a rewrite to x-patterns)", p, err)
	}
	return p, nil
}

// responsesSection writes our responses: the layout's order first, then
// the rest in order of first use.
func (g *generator) responsesSection() (*yaml.Node, error) {
	lay := at(g.layout, "components", "responses")
	var order []string
	var err error
	pairs(lay, func(name string, _ *yaml.Node) {
		if _, ok := g.responses[name]; !ok && err == nil {
			err = fmt.Errorf("layout response %s is not used", name)
		}
		order = append(order, name)
	})
	if err != nil {
		return nil, err
	}
	for _, n := range g.respOrder {
		if !slices.Contains(order, n) {
			order = append(order, n)
		}
	}
	out := mapping()
	for _, name := range order {
		l := get(lay, name)
		if layoutComplete(l) {
			r := clone(l)
			if sc := get(r, "x-schema"); sc != nil {
				content := mapping()
				for _, ct := range jsonTypes {
					media := mapping("schema", ref("schemas", sc.Value))
					if ex := get(r, "x-example"); ex != nil {
						set(media, "example", clone(ex))
					}
					set(content, ct, media)
				}
				set(r, "content", content)
			}
			del(r, "x-schema")
			del(r, "x-example")
			g.layoutSchemaRefs(r)
			set(out, name, r)
			continue
		}
		use := g.responses[name]
		if use.src == nil {
			return nil, fmt.Errorf("response %s: define it in the layout", name)
		}
		def := at(use.src.doc, "components", "responses", use.name)
		r := mapping("description", clone(get(def, "description")))
		if hs := get(def, "headers"); hs != nil {
			headers := mapping()
			pairs(hs, func(h string, _ *yaml.Node) {
				if at(g.layout, "components", "headers", h) == nil && err == nil {
					err = fmt.Errorf("response %s: header %s is not in the layout's components", name, h)
				}
				set(headers, h, ref("headers", h))
			})
			set(r, "headers", headers)
		}
		if c := get(def, "content"); c != nil {
			schema := ""
			pairs(c, func(ct string, media *yaml.Node) {
				if slices.Contains(jsonTypes, ct) && schema == "" {
					schema = refName(get(media, "schema"))
				}
			})
			if schema == "" {
				return nil, fmt.Errorf("response %s has no JSON schema reference", name)
			}
			use.src.roots = append(use.src.roots, schema)
			content := mapping()
			for _, ct := range jsonTypes {
				media := mapping("schema", ref("schemas", "\x00"+use.src.File+"\x00"+schema))
				if ex := get(l, "x-example"); ex != nil {
					set(media, "example", clone(ex))
				}
				set(content, ct, media)
			}
			set(r, "content", content)
		} else if get(l, "x-example") != nil {
			return nil, fmt.Errorf("response %s has an example but no body", name)
		}
		set(out, name, r)
	}
	return out, err
}

// layoutSchemaRefs adds the official schemas a layout-defined node refers to
// to the roots of the first file defining them.
func (g *generator) layoutSchemaRefs(n *yaml.Node) {
	if name := refName(n); name != "" && strings.HasPrefix(get(n, "$ref").Value, "#/components/schemas/") {
		if at(g.layout, "components", "schemas", name) == nil {
			for _, s := range g.srcs {
				if s.schema(name) != nil {
					s.roots = append(s.roots, name)
					break
				}
			}
		}
		return
	}
	for _, c := range n.Content {
		g.layoutSchemaRefs(c)
	}
}

// checkRefs reports a local reference to nothing.
func (g *generator) checkRefs(n *yaml.Node) error {
	if r := get(n, "$ref"); r != nil && n.Kind == yaml.MappingNode {
		p := strings.Split(strings.TrimPrefix(r.Value, "#/"), "/")
		if len(p) != 3 || at(g.out, p...) == nil {
			return fmt.Errorf("dangling reference %s", r.Value)
		}
	}
	for _, c := range n.Content {
		if err := g.checkRefs(c); err != nil {
			return err
		}
	}
	return nil
}

// shorten keeps a description to its first sentence when it is long, and
// to about 110 characters.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= 120 {
		return strings.TrimSuffix(s, ".")
	}
	if i := strings.Index(s, ". "); i > 0 {
		s = s[:i]
	}
	if len(s) <= 120 {
		return s
	}
	cut := strings.LastIndex(s[:110], " ")
	if cut < 40 {
		cut = 110
	}
	return strings.TrimRight(s[:cut], ",;:") + "..."
}

// canonical is a schema with its references resolved and its annotations
// (description, title, examples) left out: two files' schemas of one name
// are the same schema when their canonical forms are equal.
func (g *generator) canonical(src *source, name string) string {
	if c, ok := src.memo[name]; ok {
		return c
	}
	if src.memo == nil {
		src.memo = map[string]string{}
	}
	src.memo[name] = `"cycle:` + name + `"`
	v := g.canonValue(src, src.schema(name))
	raw, _ := json.Marshal(v)
	src.memo[name] = string(raw)
	return src.memo[name]
}

func (g *generator) canonValue(src *source, n *yaml.Node) any {
	if name := refName(n); name != "" {
		if at(g.layout, "components", "schemas", name) != nil {
			return "layout:" + name
		}
		return json.RawMessage(g.canonical(src, name))
	}
	if n.Kind != yaml.MappingNode {
		var v any
		_ = n.Decode(&v)
		return v
	}
	m := map[string]any{}
	pairs(n, func(k string, v *yaml.Node) {
		switch k {
		case "description", "title", "example", "examples":
		case "properties":
			props := map[string]any{}
			pairs(v, func(p string, s *yaml.Node) { props[p] = g.canonValue(src, s) })
			m[k] = props
		case "items", "not", "additionalProperties":
			m[k] = g.canonValue(src, v)
		case "allOf", "oneOf", "anyOf":
			var list []any
			for _, s := range v.Content {
				list = append(list, g.canonValue(src, s))
			}
			m[k] = list
		default:
			var x any
			_ = v.Decode(&x)
			m[k] = x
		}
	})
	return m
}
