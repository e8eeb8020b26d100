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
