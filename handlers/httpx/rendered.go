package httpx

import (
	"encoding/json"
	"sync"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Rendered keeps the JSON of the transaction pages served last. The store
// hands out the same page (the same backing array) until a write makes it
// stale, and a fresh read is a new array: keyed by the page's first item,
// a rendering is found only for the very page it was made from, never for a
// newer one. Holding the key keeps that page alive, so its address is never
// reused while it is here. Bounded by bytes; when full it starts again.
type Rendered struct {
	mu    sync.Mutex
	m     map[renderKey]json.RawMessage
	bytes int
}

type renderKey struct {
	first   *bank.Transaction
	n       int
	variant string // what of the page, in which words (a permission level, booked or pending entries)
}

// maxRendered bounds the JSON kept, some 8 MB (about 200 pages of 50).
const maxRendered = 8 << 20

// Page returns the rendering of items called variant, made by render when
// none is kept.
func (r *Rendered) Page(items []bank.Transaction, variant string, render func() (json.RawMessage, error)) (json.RawMessage, error) {
	if len(items) == 0 {
		return render()
	}
	k := renderKey{&items[0], len(items), variant}
	r.mu.Lock()
	b, ok := r.m[k]
	r.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := render()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.m == nil || r.bytes+len(b) > maxRendered {
		r.m, r.bytes = make(map[renderKey]json.RawMessage), 0
	}
	r.m[k] = b
	r.bytes += len(b)
	r.mu.Unlock()
	return b, nil
}
