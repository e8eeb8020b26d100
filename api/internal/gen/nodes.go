package main

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Small helpers over yaml.v3 nodes: the generator works on nodes, not maps,
// so the official files' key order survives into the output.

// get returns the value of key in mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// at follows a path of keys from m.
func at(m *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		m = get(m, k)
	}
	return m
}

// set replaces the value of key in m, or appends the pair.
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, str(key), v)
}

// del removes key from m.
func del(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// pairs calls f for each key and value of m, in order.
func pairs(m *yaml.Node, f func(k string, v *yaml.Node)) {
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		f(m.Content[i].Value, m.Content[i+1])
	}
}

// mapping builds a mapping from key, value pairs; a value is a *yaml.Node or
// a string.
func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(kv); i += 2 {
		var v *yaml.Node
		switch x := kv[i+1].(type) {
		case *yaml.Node:
			v = x
		case string:
			v = str(x)
		case bool:
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(x)}
		default:
			panic(fmt.Sprintf("mapping: value of type %T", x))
		}
		m.Content = append(m.Content, str(kv[i].(string)), v)
	}
	return m
}

func seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// ref is {$ref: "#/components/<kind>/<name>"}.
func ref(kind, name string) *yaml.Node {
	return mapping("$ref", "#/components/"+kind+"/"+name)
}

// refName is the last segment of a local $ref, or "" when n is no reference.
func refName(n *yaml.Node) string {
	r := get(n, "$ref")
	if r == nil {
		return ""
	}
	return r.Value[strings.LastIndex(r.Value, "/")+1:]
}

// clone copies a node deeply, without comments or positions.
func clone(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		return clone(n.Alias)
	}
	c := &yaml.Node{Kind: n.Kind, Tag: n.Tag, Value: n.Value, Style: n.Style &^ (yaml.FlowStyle)}
	for _, x := range n.Content {
		c.Content = append(c.Content, clone(x))
	}
	return c
}

// scalars reports whether every item of sequence n is a scalar.
func scalars(n *yaml.Node) bool {
	for _, x := range n.Content {
		if x.Kind != yaml.ScalarNode {
			return false
		}
	}
	return true
}

// tidy sets the output style: references and short lists of scalars on one
// line, everything else in block style; multi-line strings literal.
func tidy(n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 2 && n.Content[0].Value == "$ref" {
			n.Style = yaml.FlowStyle
			return
		}
	case yaml.SequenceNode:
		if scalars(n) {
			width := 0
			for _, x := range n.Content {
				width += len(x.Value) + 2
			}
			if width <= 100 {
				n.Style = yaml.FlowStyle
				return
			}
		}
	case yaml.ScalarNode:
		if strings.Contains(n.Value, "\n") {
			n.Style = yaml.LiteralStyle
		}
	}
	for _, x := range n.Content {
		tidy(x)
	}
}
