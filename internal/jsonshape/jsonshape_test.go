package jsonshape

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want error // nil: accepted
	}{
		{"OK", `{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}`, nil},
		{"OKScalar", `"x"`, nil},
		{"OKTrailingWhitespace", "{\"a\":1} \r\n\t", nil},
		{"OKSameKeyInSiblings", `{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]}`, nil},
		{"OKSameKeyNested", `{"k":{"k":{"k":1}}}`, nil},
		{"OKDepth32", strings.Repeat("[", 32) + strings.Repeat("]", 32), nil},
		{"OKArray1000", "[" + strings.TrimSuffix(strings.Repeat("1,", 1000), ",") + "]", nil},
		{"OKHugeNumber", `{"a":1e400}`, nil},
		{"ErrDuplicateTop", `{"a":1,"a":2}`, ErrDuplicateKey},
		{"ErrDuplicateNested", `{"Data":{"Initiation":{"InstructedAmount":{"Amount":"1.00","Amount":"1000.00"}}}}`, ErrDuplicateKey},
		{"ErrDuplicateInArray", `{"a":[{"x":1},{"x":1,"y":2,"x":3}]}`, ErrDuplicateKey},
		{"ErrDuplicateEscaped", `{"alg":"PS256","\u0061lg":"none"}`, ErrDuplicateKey},
		{"ErrDuplicateCase", `{"Data":{},"data":{}}`, ErrDuplicateKey},
		{"ErrDuplicateKelvin", `{"kid":"a","\u212aid":"b"}`, ErrDuplicateKey},
		{"ErrDuplicateAfterObjectValue", `{"a":{"b":1},"a":2}`, ErrDuplicateKey},
		{"ErrTrailingValue", `{"a":1}{"a":2}`, ErrTrailingData},
		{"ErrTrailingScalar", `{"a":1} 2`, ErrTrailingData},
		{"ErrTrailingGarbage", `{"a":1}xyz`, ErrTrailingData},
		{"ErrTrailingBracket", `{"a":1}]`, ErrTrailingData},
		{"ErrTrailingAfterScalar", `1 2`, ErrTrailingData},
		{"ErrDepth33", strings.Repeat("[", 33) + strings.Repeat("]", 33), ErrTooDeep},
		{"ErrArray1001", "[" + strings.TrimSuffix(strings.Repeat("1,", 1001), ",") + "]", ErrArrayTooLong},
		{"ErrArrayOfObjects", "[" + strings.TrimSuffix(strings.Repeat("{},", 1001), ",") + "]", ErrArrayTooLong},
		{"ErrSyntax", `{"a":`, ErrSyntax},
		{"ErrEmpty", ``, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.body), Default)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckNoLimits(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	if err := Check([]byte(deep), Limits{}); err != nil {
		t.Errorf("got %v, want no bound on depth", err)
	}
	if err := Check([]byte(`{"a":1,"a":1}`), Limits{}); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("got %v, want %v whatever the limits", err, ErrDuplicateKey)
	}
}

func TestDuplicateKeyNamesWhere(t *testing.T) {
	t.Parallel()
	err := Check([]byte(`{"Data":{"Initiation":{"A":1,"a":2}}}`), Default)
	if err == nil || !strings.Contains(err.Error(), `"a" in Data.Initiation`) {
		t.Errorf("got %v, want the key and its object named", err)
	}
	err = Check([]byte(`{"x":[{},{"k":1,"k":2}]}`), Default)
	if err == nil || !strings.Contains(err.Error(), `in x[1]`) {
		t.Errorf("got %v, want the array element named", err)
	}
}
