package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Limits on the shape of JSON bodies, checked before anything decodes them:
// a body that is deeply nested or holds a huge array costs the parser far
// more than its size suggests.
const (
	DefaultMaxJSONDepth = 32
	DefaultMaxJSONArray = 1000
)

// checkJSONShape walks a body's tokens without building it and refuses
// nesting deeper than maxDepth or an array longer than maxArray. Syntax
// errors are left for the decoder to report.
func checkJSONShape(body []byte, maxDepth, maxArray int) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	type level struct {
		array bool
		n     int
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil
		}
		if len(stack) > 0 && stack[len(stack)-1].array {
			if d, ok := tok.(json.Delim); !ok || (d != ']' && d != '}') {
				stack[len(stack)-1].n++
				if stack[len(stack)-1].n > maxArray {
					return bank.Errorf(bank.KindFieldInvalid, "", "an array in the body holds more than %d elements", maxArray)
				}
			}
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			stack = append(stack, level{array: tok == json.Delim('[')})
			if len(stack) > maxDepth {
				return bank.Errorf(bank.KindMalformed, "", "the body nests deeper than %d levels", maxDepth)
			}
		case json.Delim(']'), json.Delim('}'):
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}
