package httpx

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strconv"
	"sync"
	"weak"

	"github.com/labstack/echo/v4"
	"github.com/obsandbox/sandbox/internal/bank"
)

// Rendered keeps the JSON of the transaction pages served last, for as
// long as their page lives. The store hands out the same page (the same
// backing array) until a write makes it stale, and a fresh read is a new
// array: keyed by a weak pointer to the page's first item, a rendering is
// found only for the very page it was made from, never for a newer one (weak
// pointers from different arrays never compare equal, even at a reused
// address). Once the store lets the page go, its renderings go with it, at
// the collection that frees the page: under writes, stale pages' JSON is not
// kept live. Bounded by bytes; when full it starts again.
type Rendered struct {
	mu    sync.Mutex
	m     map[renderKey]json.RawMessage
	bytes int
}

type renderKey struct {
	first   weak.Pointer[bank.Transaction]
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
	k := renderKey{weak.Make(&items[0]), len(items), variant}
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
	if _, ok := r.m[k]; !ok {
		r.m[k] = b
		r.bytes += len(b)
		runtime.AddCleanup(&items[0], r.forget, k)
	}
	r.mu.Unlock()
	return b, nil
}

// forget drops the rendering of a page that is gone.
func (r *Rendered) forget(k renderKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.m[k]; ok {
		delete(r.m, k)
		r.bytes -= len(b)
	}
}

// Len is how many renderings are kept.
func (r *Rendered) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// Member is one member of a JSON object Object writes.
type Member struct {
	Name string
	// Value is marshalled, or written as it is when a json.RawMessage, or
	// written as a nested object when a []Member.
	Value any
}

// Object is the JSON object of members in their order: each value
// marshalled as encoding/json would, except a json.RawMessage, which is
// written as it is — a rendered page is valid JSON already, and
// encoding/json would check every byte of it again — and a []Member, a
// nested object written in place.
func Object(members ...Member) (json.RawMessage, error) {
	parts, n, err := objectParts(nil, 0, members)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, n) // one allocation
	for _, p := range parts {
		b = append(b, p...)
	}
	return b, nil
}

// objectParts appends the pieces of the object's JSON to parts (values
// marshalled, rendered ones as they are) and adds their length to n.
func objectParts(parts [][]byte, n int, members []Member) ([][]byte, int, error) {
	add := func(p []byte) { parts, n = append(parts, p), n+len(p) }
	add(openBrace)
	for i, m := range members {
		if i > 0 {
			add(comma)
		}
		name, err := json.Marshal(m.Name)
		if err != nil {
			return nil, 0, err
		}
		add(append(name, ':'))
		switch v := m.Value.(type) {
		case json.RawMessage:
			if v == nil {
				v = null // as encoding/json writes a nil RawMessage
			}
			add(v)
		case []Member:
			if parts, n, err = objectParts(parts, n, v); err != nil {
				return nil, 0, err
			}
		default:
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, 0, err
			}
			add(raw)
		}
	}
	add(closeBrace)
	return parts, n, nil
}

var openBrace, comma, closeBrace, newline, null = []byte("{"), []byte(","), []byte("}"), []byte("\n"), json.RawMessage("null")

// ObjectJSON answers status with Object(members...): the bytes c.JSON would
// write for the same members (indented with ?pretty or in debug mode). The
// pieces are written as they are, rendered pages included, under a
// Content-Length: a page of transactions is not copied into one more buffer
// (on a 50-entry page that copy and its garbage were a tenth of the read).
func ObjectJSON(c echo.Context, status int, members ...Member) error {
	parts, n, err := objectParts(nil, 0, members)
	if err != nil {
		return err
	}
	if _, pretty := c.QueryParams()["pretty"]; pretty || c.Echo().Debug {
		var out bytes.Buffer
		if err := json.Indent(&out, bytes.Join(parts, nil), "", "  "); err != nil {
			return err
		}
		out.WriteByte('\n')
		return c.JSONBlob(status, out.Bytes())
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.Header().Set(echo.HeaderContentLength, strconv.Itoa(n+1))
	res.WriteHeader(status)
	for _, p := range append(parts, newline) {
		if _, err := res.Write(p); err != nil {
			return err
		}
	}
	return nil
}
