package handlers

import (
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/bank"
)

func TestCheckJSONShape(t *testing.T) {
	tests := []struct {
		name string
		body string
		kind bank.Kind
		ok   bool
	}{
		{"OK", `{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}`, 0, true},
		{"OKDepth32", strings.Repeat("[", 32) + strings.Repeat("]", 32), 0, true},
		{"ErrDepth33", strings.Repeat("[", 33) + strings.Repeat("]", 33), bank.KindMalformed, false},
		{"OKArray1000", "[" + strings.TrimSuffix(strings.Repeat("1,", 1000), ",") + "]", 0, true},
		{"ErrArray1001", "[" + strings.TrimSuffix(strings.Repeat("1,", 1001), ",") + "]", bank.KindFieldInvalid, false},
		{"ErrArrayOfObjects", "[" + strings.TrimSuffix(strings.Repeat("{},", 1001), ",") + "]", bank.KindFieldInvalid, false},
		{"SyntaxLeftToTheDecoder", `{"a":`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkJSONShape([]byte(tt.body), DefaultMaxJSONDepth, DefaultMaxJSONArray)
			if (err == nil) != tt.ok || (err != nil && bank.KindOf(err) != tt.kind) {
				t.Errorf("got %v, want ok=%v kind=%v", err, tt.ok, tt.kind)
			}
		})
	}
}
