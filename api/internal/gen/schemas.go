package main

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// schemas gathers every official schema our operations and responses reach,
// file by file, names them (a name an earlier file uses for another shape
// gets the file's suffix), cleans them and adds the layout's own schemas.
func (g *generator) schemas() (*yaml.Node, error) {
	lay := at(g.layout, "components", "schemas")
	g.layoutSchemaRefs(lay)
	closures := map[*source][]string{}
	for _, src := range g.srcs {
		seen := map[string]bool{}
		var visit func(name string) error
		visit = func(name string) error {
			if seen[name] || get(lay, name) != nil {
				return nil
			}
			n := src.schema(name)
			if n == nil {
				return fmt.Errorf("%s: schema %s is referenced but not defined", src.File, name)
			}
			seen[name] = true
			for _, r := range schemaRefs(n, nil) {
				if err := visit(r); err != nil {
					return err
				}
			}
			return nil
		}
		for _, r := range src.roots {
			if err := visit(r); err != nil {
				return nil, err
			}
		}
		// In the file's order, so the output follows it.
		pairs(at(src.doc, "components", "schemas"), func(name string, _ *yaml.Node) {
			if seen[name] {
				closures[src] = append(closures[src], name)
			}
		})
	}
	for _, src := range g.srcs {
		src.rename = map[string]string{}
		pairs(lay, func(name string, _ *yaml.Node) { src.rename[name] = name })
		for _, name := range closures[src] {
			c := g.canonical(src, name)
			o, ok := g.owner[name]
			switch {
			case !ok:
				g.owner[name] = owned{src, name, c}
				src.rename[name] = name
			case o.canon == c:
				src.rename[name] = name
			default:
				alt := name + src.Suffix
				if o2, ok := g.owner[alt]; alt == name || ok && o2.canon != c {
					return nil, fmt.Errorf("%s: schema %s differs from %s's and %s is taken", src.File, name, o.src.File, alt)
				}
				g.owner[alt] = owned{src, name, c}
				src.rename[name] = alt
			}
		}
	}
	out := mapping()
	for _, src := range g.srcs {
		for _, name := range closures[src] {
			final := src.rename[name]
			if o := g.owner[final]; o.src != src || o.name != name || get(out, final) != nil {
				continue
			}
			n, err := g.clean(src, src.schema(name))
			if err != nil {
				return nil, fmt.Errorf("%s: schema %s: %w", src.File, name, err)
			}
			set(out, final, n)
		}
	}
	pairs(lay, func(name string, s *yaml.Node) { set(out, name, clone(s)) })
	for _, name := range g.reqRoots {
		if err := closeRequest(get(out, g.reqSrc[name].rename[name])); err != nil {
			return nil, fmt.Errorf("request schema %s: %w", name, err)
		}
	}
	g.resolvePlaceholders(g.out)
	return out, nil
}

// closeRequest refuses unknown members in a request body and its Data
// (UK.OBIE.Field.Unexpected / U005), as api/openapi.yaml does for v3.1.11;
// the official files leave some of them open.
func closeRequest(n *yaml.Node) error {
	if n == nil {
		return fmt.Errorf("not emitted")
	}
	for _, m := range []*yaml.Node{n, at(n, "properties", "Data")} {
		if m == nil {
			continue
		}
		if refName(m) != "" {
			return errors.New("the Data member is a reference")
		}
		if get(m, "additionalProperties") == nil {
			set(m, "additionalProperties", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"})
		}
	}
	return nil
}

// schemaRefs lists the schema names n refers to.
func schemaRefs(n *yaml.Node, acc []string) []string {
	if name := refName(n); name != "" && n.Kind == yaml.MappingNode {
		return append(acc, name)
	}
	for _, c := range n.Content {
		acc = schemaRefs(c, acc)
	}
	return acc
}

// clean copies an official schema: references under our names, no titles
// or examples, short descriptions, patterns Go can compile.
func (g *generator) clean(src *source, n *yaml.Node) (*yaml.Node, error) {
	c := clone(n)
	return c, g.cleanSchema(src, c)
}

func (g *generator) cleanSchema(src *source, n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var content []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "title", "example", "examples":
			continue
		case "description":
			v.Value = shorten(v.Value)
			v.Style = 0
		case "$ref":
			name := v.Value[strings.LastIndex(v.Value, "/")+1:]
			v.Value = "#/components/schemas/" + src.rename[name]
		case "pattern":
			v.Value, err = g.pattern(v.Value)
		case "properties":
			for j := 1; j < len(v.Content) && err == nil; j += 2 {
				err = g.cleanSchema(src, v.Content[j])
			}
		case "items", "not", "additionalProperties":
			err = g.cleanSchema(src, v)
		case "allOf", "oneOf", "anyOf":
			for _, s := range v.Content {
				if err == nil {
					err = g.cleanSchema(src, s)
				}
			}
		}
		if err != nil {
			return err
		}
		content = append(content, k, v)
	}
	n.Content = content
	return nil
}

// resolvePlaceholders turns the schema references written before the names
// were known ("\x00<file>\x00<official name>") into our names.
func (g *generator) resolvePlaceholders(n *yaml.Node) {
	if r := get(n, "$ref"); r != nil && n.Kind == yaml.MappingNode {
		if p := strings.Split(strings.TrimPrefix(r.Value, "#/components/schemas/"), "\x00"); len(p) == 3 {
			for _, s := range g.srcs {
				if s.File == p[1] {
					r.Value = "#/components/schemas/" + s.rename[p[2]]
				}
			}
		}
		return
	}
	for _, c := range n.Content {
		g.resolvePlaceholders(c)
	}
}
