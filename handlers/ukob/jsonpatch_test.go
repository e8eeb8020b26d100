package ukob

import (
	"testing"

	"github.com/obsandbox/sandbox/internal/bank"
)

// TestApplyPatch: the examples of RFC 6902 Appendix A, and a patch that
// fails part-way changing nothing.
func TestApplyPatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc, patch, want string
	}{
		{"A1AddObjectMember", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux"}]`, `{"baz":"qux","foo":"bar"}`},
		{"A2AddArrayElement", `{"foo":["bar","baz"]}`, `[{"op":"add","path":"/foo/1","value":"qux"}]`, `{"foo":["bar","qux","baz"]}`},
		{"A3RemoveObjectMember", `{"baz":"qux","foo":"bar"}`, `[{"op":"remove","path":"/baz"}]`, `{"foo":"bar"}`},
		{"A4RemoveArrayElement", `{"foo":["bar","qux","baz"]}`, `[{"op":"remove","path":"/foo/1"}]`, `{"foo":["bar","baz"]}`},
		{"A5Replace", `{"baz":"qux","foo":"bar"}`, `[{"op":"replace","path":"/baz","value":"boo"}]`, `{"baz":"boo","foo":"bar"}`},
		{"A6Move", `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`, `[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`,
			`{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`},
		{"A7MoveArrayElement", `{"foo":["all","grass","cows","eat"]}`, `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`, `{"foo":["all","cows","eat","grass"]}`},
		{"A8TestPasses", `{"baz":"qux","foo":["a",2,"c"]}`, `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`,
			`{"baz":"qux","foo":["a",2,"c"]}`},
		{"A10AddNested", `{"foo":"bar"}`, `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`, `{"child":{"grandchild":{}},"foo":"bar"}`},
		{"A14EscapedPointer", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":10}]`, `{"/":9,"~1":10}`},
		{"A16AppendToArray", `{"foo":["bar"]}`, `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`, `{"foo":["bar",["abc","def"]]}`},
		{"Copy", `{"a":{"b":1}}`, `[{"op":"copy","from":"/a","path":"/c"}]`, `{"a":{"b":1},"c":{"b":1}}`},
		{"ErrA9TestFails", `{"baz":"qux"}`, `[{"op":"test","path":"/baz","value":"bar"}]`, ""},
		{"ErrA12AddToMissingParent", `{"foo":"bar"}`, `[{"op":"add","path":"/baz/bat","value":"qux"}]`, ""},
		{"ErrA15ComparingStringsAndNumbers", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":"10"}]`, ""},
		{"ErrReplaceMissing", `{"a":1}`, `[{"op":"replace","path":"/b","value":2}]`, ""},
		{"ErrRemoveOutOfRange", `{"a":[1]}`, `[{"op":"remove","path":"/a/1"}]`, ""},
		{"ErrMoveIntoItself", `{"a":{"b":{}}}`, `[{"op":"move","from":"/a","path":"/a/b/c"}]`, ""},
		{"ErrUnknownOp", `{"a":1}`, `[{"op":"merge","path":"/a","value":2}]`, ""},
		{"ErrLaterOpFails", `{"a":1}`, `[{"op":"add","path":"/b","value":2},{"op":"remove","path":"/zzz"}]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := applyPatch([]byte(tc.doc), []byte(tc.patch))
			if tc.want == "" {
				if err == nil || bank.KindOf(err) != bank.KindFieldInvalid {
					t.Fatalf("got %s, %v; want a refusal (UK.OBIE.Field.Invalid)", got, err)
				}
				return
			}
			if err != nil || !bank.SameJSON(got, []byte(tc.want)) {
				t.Fatalf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}
