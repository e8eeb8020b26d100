package ukob

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
)

// rendered keeps the JSON of the transaction pages served last. The store
// hands out the same page (the same backing array) until a write makes it
// stale, and a fresh read is a new array: keyed by the page's first item,
// a rendering is found only for the very page it was made from, never for a
// newer one. Holding the key keeps that page alive, so its address is never
// reused while it is here. Bounded by bytes; when full it starts again.
type rendered struct {
	mu    sync.Mutex
	m     map[renderKey]json.RawMessage
	bytes int
}

type renderKey struct {
	first  *bank.Transaction
	n      int
	detail bool
}

// maxRendered bounds the JSON kept, some 8 MB (about 200 pages of 50).
const maxRendered = 8 << 20

// transactions returns the JSON array of items as the standard shows it.
func (r *rendered) transactions(w Wire, items []bank.Transaction, detail bool) (json.RawMessage, error) {
	if len(items) == 0 {
		return json.RawMessage("[]"), nil
	}
	k := renderKey{&items[0], len(items), detail}
	r.mu.Lock()
	b, ok := r.m[k]
	r.mu.Unlock()
	if ok {
		return b, nil
	}
	out := make([]any, len(items))
	for i := range items {
		out[i] = w.Transaction(&items[i], detail)
	}
	b, err := json.Marshal(out)
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

// pageJSON answers 200 with the envelope whose Data holds key: items, an
// array already rendered: the bytes c.JSON writes for it, without having
// encoding/json re-read the array (it would check every byte of it again).
func pageJSON(c echo.Context, key string, items json.RawMessage, links obwire.Links, meta obwire.Meta) error {
	if _, pretty := c.QueryParams()["pretty"]; pretty || c.Echo().Debug {
		return c.JSON(http.StatusOK, obwire.Envelope{Data: map[string]any{key: items}, Links: links, Meta: meta})
	}
	rest, err := json.Marshal(struct {
		Links obwire.Links `json:"Links"`
		Meta  obwire.Meta  `json:"Meta"`
	}{links, meta})
	if err != nil {
		return err
	}
	b := make([]byte, 0, len(items)+len(rest)+len(key)+16)
	b = append(b, `{"Data":{"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	b = append(b, items...)
	b = append(b, `},`...)
	b = append(b, rest[1:]...)
	b = append(b, '\n')
	return c.JSONBlob(http.StatusOK, b)
}
