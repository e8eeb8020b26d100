package berlin

import (
	"strconv"
	"strings"
	"testing"
)

// What the QWAC memo holds is bounded whatever the headers: a long one (a
// certificate can be written with any text after its PEM END line) is not
// remembered, and past maxQWACs it starts again.
func TestQWACsBounded(t *testing.T) {
	t.Parallel()
	var q qwacs
	long := strings.Repeat("A", maxQWACHeader+1)
	q.put(long, qwac{})
	if _, ok := q.get(long); ok {
		t.Errorf("a %d-byte header was remembered", len(long))
	}
	for i := range maxQWACs + 10 {
		q.put(strconv.Itoa(i), qwac{})
	}
	if n := len(q.m); n > maxQWACs {
		t.Errorf("%d certificates remembered, at most %d", n, maxQWACs)
	}
	if _, ok := q.get(strconv.Itoa(maxQWACs + 9)); !ok {
		t.Error("the last certificate put was not remembered")
	}
}
