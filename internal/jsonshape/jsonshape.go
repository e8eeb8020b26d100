// Package jsonshape checks a JSON text before anything decodes it, in one
// streaming pass that builds nothing. It refuses what two parsers can read
// differently — a key twice in one object (RFC 8259 §4 leaves the result to
// the parser: one takes the first, encoding/json the last), data after the
// value (a streaming decoder stops at the first value, a whole-text parser
// refuses) — and, within Limits, what costs a parser far more than its
// size: deep nesting and long arrays.
//
// Keys count as the same when encoding/json would fill the same struct
// field from them: it matches names case-insensitively (Unicode simple
// folding), so {"Data":…,"data":…} is a duplicate too.
package jsonshape

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The ways a text can fail. Errors from Check wrap exactly one of them.
var (
	ErrDuplicateKey = errors.New("a key appears twice in one object")
	ErrTrailingData = errors.New("data follows the JSON value")
	ErrTooDeep      = errors.New("the value nests too deep")
	ErrArrayTooLong = errors.New("an array holds too many elements")
	ErrSyntax       = errors.New("not valid JSON")
)

// Limits bound a value's shape; zero means no bound.
type Limits struct {
	Depth int // arrays and objects nested in each other
	Array int // elements of one array
}

// Default is the bound on request bodies of the resource APIs.
var Default = Limits{Depth: 32, Array: 1000}

type level struct {
	array   bool
	wantKey bool                // an object whose next token is a key (or its end)
	n       int                 // an array's elements so far
	key     string              // an object's current key
	keys    map[string]struct{} // an object's keys so far, folded
}

// Check reads b as one JSON value and reports the first thing it refuses.
func Check(b []byte, l Limits) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers are not converted: a huge exponent is not an error here
	var stack []*level
	done := false
	for {
		tok, err := dec.Token()
		switch {
		case errors.Is(err, io.EOF) && done:
			return nil
		case done:
			return ErrTrailingData
		case err != nil:
			return fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.wantKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				done = ended(stack)
				continue
			}
			k, _ := tok.(string)
			f := fold(k)
			if _, dup := top.keys[f]; dup {
				return fmt.Errorf("%w: %q in %s", ErrDuplicateKey, k, where(stack[:len(stack)-1]))
			}
			if top.keys == nil {
				top.keys = map[string]struct{}{}
			}
			top.keys[f] = struct{}{}
			top.key, top.wantKey = k, false
			continue
		}
		if tok == json.Delim(']') {
			stack = stack[:len(stack)-1]
			done = ended(stack)
			continue
		}
		// A value starts.
		if top != nil && top.array {
			top.n++
			if l.Array > 0 && top.n > l.Array {
				return fmt.Errorf("%w: more than %d", ErrArrayTooLong, l.Array)
			}
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, &level{array: d == '[', wantKey: d == '{'})
			if l.Depth > 0 && len(stack) > l.Depth {
				return fmt.Errorf("%w: deeper than %d levels", ErrTooDeep, l.Depth)
			}
			continue
		}
		done = ended(stack)
	}
}

// ended notes that a value ended: the object holding it waits for its next
// key; with nothing holding it, the text's value is complete.
func ended(stack []*level) bool {
	if len(stack) == 0 {
		return true
	}
	if top := stack[len(stack)-1]; !top.array {
		top.wantKey = true
	}
	return false
}

// where names the object a key is in, for the message ("Data.Initiation").
func where(stack []*level) string {
	var parts []string
	for _, lv := range stack {
		if lv.array {
			parts = append(parts, fmt.Sprintf("[%d]", lv.n-1))
		} else {
			parts = append(parts, lv.key)
		}
	}
	if len(parts) == 0 {
		return "the top-level object"
	}
	return strings.ReplaceAll(strings.Join(parts, "."), ".[", "[")
}

// fold maps a key to the same string as every key encoding/json would match
// to the same field: ASCII upper-cased, other runes to the smallest rune of
// their simple case-folding orbit (as encoding/json's foldName does).
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
		default:
			for {
				r2 := unicode.SimpleFold(r)
				if r2 <= r {
					r = r2
					break
				}
				r = r2
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}
