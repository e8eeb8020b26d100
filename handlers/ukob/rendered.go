package ukob

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
)

// rendered keeps the JSON of the transaction pages served last (see
// httpx.Rendered).
type rendered struct{ httpx.Rendered }

// transactions returns the JSON array of items as the standard shows it.
func (r *rendered) transactions(w Wire, items []bank.Transaction, detail bool) (json.RawMessage, error) {
	variant := "basic"
	if detail {
		variant = "detail"
	}
	return r.Page(items, variant, func() (json.RawMessage, error) {
		out := make([]any, len(items))
		for i := range items {
			out[i] = w.Transaction(&items[i], detail)
		}
		return json.Marshal(out)
	})
}

// pageJSON answers 200 with the envelope whose Data holds key: items, an
// array already rendered (see httpx.Object).
func pageJSON(c echo.Context, key string, items json.RawMessage, links obwire.Links, meta obwire.Meta) error {
	return httpx.ObjectJSON(c, http.StatusOK, httpx.Member{Name: "Data", Value: []httpx.Member{{Name: key, Value: items}}},
		httpx.Member{Name: "Links", Value: links}, httpx.Member{Name: "Meta", Value: meta})
}
