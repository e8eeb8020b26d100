package ukob

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/obsandbox/sandbox/internal/bank"
)

// patchOp is one operation of a JSON Patch (RFC 6902 §4).
type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from"`
	Value json.RawMessage `json:"value"`
}

// applyPatch applies a JSON Patch document (RFC 6902) to doc, every
// operation or none (§5): a failed test or a path that does not resolve
// refuses the whole patch.
func applyPatch(doc []byte, patch []byte) ([]byte, error) {
	var ops []patchOp
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, bank.Errorf(bank.KindMalformed, "", "the body is not a JSON Patch document (RFC 6902): %v", err)
	}
	root, err := decodeNumber(doc)
	if err != nil {
		return nil, err
	}
	for i, op := range ops {
		bad := func(format string, args ...any) error {
			return bank.Errorf(bank.KindFieldInvalid, "["+strconv.Itoa(i)+"]", "patch operation %d (%s %s): "+format, append([]any{i, op.Op, op.Path}, args...)...)
		}
		var value any
		if op.Op == "add" || op.Op == "replace" || op.Op == "test" {
			if len(op.Value) == 0 {
				return nil, bad("value is required")
			}
			if value, err = decodeNumber(op.Value); err != nil {
				return nil, bad("value is not JSON")
			}
		}
		switch op.Op {
		case "add":
			root, err = setAt(root, op.Path, value, true)
		case "remove":
			root, _, err = removeAt(root, op.Path)
		case "replace":
			if _, err = getAt(root, op.Path); err == nil {
				root, err = setAt(root, op.Path, value, false)
			}
		case "move", "copy":
			var v any
			if v, err = getAt(root, op.From); err == nil {
				if op.Op == "move" {
					if strings.HasPrefix(op.Path, op.From+"/") {
						return nil, bad("a value cannot move into itself")
					}
					root, _, err = removeAt(root, op.From)
				} else {
					v = deepCopy(v)
				}
				if err == nil {
					root, err = setAt(root, op.Path, v, true)
				}
			}
		case "test":
			var v any
			if v, err = getAt(root, op.Path); err == nil && !reflect.DeepEqual(v, value) {
				return nil, bad("the value differs")
			}
		default:
			return nil, bad("op must be add, remove, replace, move, copy or test")
		}
		if err != nil {
			return nil, bad("%v", err)
		}
	}
	return json.Marshal(root)
}

func decodeNumber(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, bank.Errorf(bank.KindMalformed, "", "not valid JSON")
	}
	return v, nil
}

func deepCopy(v any) any {
	raw, _ := json.Marshal(v)
	out, _ := decodeNumber(raw)
	return out
}

// pointer splits a JSON Pointer (RFC 6901) into its reference tokens.
func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, errPointer
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

var (
	errPointer = bank.Errorf(bank.KindFieldInvalid, "", "not a JSON Pointer")
	errMissing = bank.Errorf(bank.KindFieldInvalid, "", "the path does not exist")
)

func index(tok string, n int, appendOK bool) (int, error) {
	if appendOK && tok == "-" {
		return n, nil
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 || i > n || (!appendOK && i == n) || (len(tok) > 1 && tok[0] == '0') {
		return 0, errMissing
	}
	return i, nil
}

func getAt(root any, path string) (any, error) {
	toks, err := pointer(path)
	if err != nil {
		return nil, err
	}
	cur := root
	for _, t := range toks {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, errMissing
			}
			cur = v
		case []any:
			i, err := index(t, len(c), false)
			if err != nil {
				return nil, err
			}
			cur = c[i]
		default:
			return nil, errMissing
		}
	}
	return cur, nil
}

// setAt adds (insert: into arrays) or replaces the value at path and
// returns the new root.
func setAt(root any, path string, v any, insert bool) (any, error) {
	toks, err := pointer(path)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return v, nil
	}
	parent, err := getAt(root, joinPointer(toks[:len(toks)-1]))
	if err != nil {
		return nil, err
	}
	last := toks[len(toks)-1]
	switch c := parent.(type) {
	case map[string]any:
		c[last] = v
	case []any:
		i, err := index(last, len(c), insert)
		if err != nil {
			return nil, err
		}
		var out []any
		if insert {
			out = append(append(append(out, c[:i]...), v), c[i:]...)
		} else {
			out = append(out, c...)
			out[i] = v
		}
		return setAt(root, joinPointer(toks[:len(toks)-1]), out, false)
	default:
		return nil, errMissing
	}
	return root, nil
}

func removeAt(root any, path string) (any, any, error) {
	toks, err := pointer(path)
	if err != nil || len(toks) == 0 {
		return nil, nil, errMissing
	}
	parent, err := getAt(root, joinPointer(toks[:len(toks)-1]))
	if err != nil {
		return nil, nil, err
	}
	last := toks[len(toks)-1]
	switch c := parent.(type) {
	case map[string]any:
		v, ok := c[last]
		if !ok {
			return nil, nil, errMissing
		}
		delete(c, last)
		return root, v, nil
	case []any:
		i, err := index(last, len(c), false)
		if err != nil {
			return nil, nil, err
		}
		v := c[i]
		out := append(append([]any{}, c[:i]...), c[i+1:]...)
		root, err = setAt(root, joinPointer(toks[:len(toks)-1]), out, false)
		return root, v, err
	}
	return nil, nil, errMissing
}

func joinPointer(toks []string) string {
	var sb strings.Builder
	for _, t := range toks {
		sb.WriteByte('/')
		sb.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return sb.String()
}
