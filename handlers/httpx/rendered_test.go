package httpx

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/obsandbox/sandbox/internal/bank"
)

// ObjectJSON writes, byte for byte, what c.JSON writes for a map of the
// same members (encoding/json sorts a map's keys: the members come in that
// order here), compact and with ?pretty.
func TestObjectJSONIsWhatJSONWrites(t *testing.T) {
	t.Parallel()
	entries, err := json.Marshal([]map[string]any{{"ref": "Tesco <Metro> & co", "amount": "-12.50"}, {"ref": "\u2028 line"}})
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]map[string]string{"self": {"href": "http://127.0.0.1/psd2/v1/accounts?a=<b>&c=d"}}
	report, err := Object(Member{Name: "_links", Value: links}, Member{Name: "booked", Value: json.RawMessage(entries)})
	if err != nil {
		t.Fatal(err)
	}
	members := []Member{{Name: "account", Value: map[string]string{"iban": "DE89370400440532013000"}},
		{Name: "debitAccounting", Value: false}, {Name: "transactions", Value: report}}
	want := map[string]any{"account": members[0].Value, "debitAccounting": false,
		"transactions": map[string]any{"booked": json.RawMessage(entries), "_links": links}}
	e := echo.New()
	for _, target := range []string{"/", "/?pretty"} {
		w := httptest.NewRecorder()
		if err := e.NewContext(httptest.NewRequest(http.MethodGet, target, nil), w).JSON(http.StatusOK, want); err != nil {
			t.Fatal(err)
		}
		got := httptest.NewRecorder()
		if err := ObjectJSON(e.NewContext(httptest.NewRequest(http.MethodGet, target, nil), got), http.StatusOK, members...); err != nil {
			t.Fatal(err)
		}
		if got.Body.String() != w.Body.String() {
			t.Errorf("%s:\n got %s\nwant %s", target, got.Body, w.Body)
		}
		if n := got.Header().Get("Content-Length"); (n != "" || target == "/") && n != strconv.Itoa(got.Body.Len()) {
			t.Errorf("Content-Length %q, body %d bytes", n, got.Body.Len())
		}
		if got.Header().Get("Content-Type") != w.Header().Get("Content-Type") {
			t.Errorf("content type %q, want %q", got.Header().Get("Content-Type"), w.Header().Get("Content-Type"))
		}
	}
}

// A nil json.RawMessage is written as encoding/json writes it: null.
func TestObjectNilRawIsNull(t *testing.T) {
	t.Parallel()
	got, err := Object(Member{Name: "a", Value: json.RawMessage(nil)})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(map[string]any{"a": json.RawMessage(nil)})
	if string(got) != string(want) {
		t.Errorf("%s, want %s", got, want)
	}
}

// A page's rendering goes when the page does: stale pages' JSON is not kept
// live once the store has let them go.
func TestRenderedGoesWithItsPage(t *testing.T) {
	t.Parallel()
	var r Rendered
	render := func() (json.RawMessage, error) { return json.RawMessage(`[{}]`), nil }
	kept := make([]bank.Transaction, 2)
	func() {
		gone := make([]bank.Transaction, 2)
		for _, items := range [][]bank.Transaction{kept, gone} {
			if _, err := r.Page(items, "basic", render); err != nil {
				t.Fatal(err)
			}
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); r.Len() > 1 && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(time.Millisecond) // the cleanups run on a goroutine of their own
	}
	if n := r.Len(); n != 1 {
		t.Errorf("%d renderings kept, want 1 (the page still alive)", n)
	}
	calls := 0
	if _, err := r.Page(kept, "basic", func() (json.RawMessage, error) { calls++; return render() }); err != nil || calls != 0 {
		t.Errorf("the live page was rendered again (%d calls, %v)", calls, err)
	}
	runtime.KeepAlive(kept)
}
