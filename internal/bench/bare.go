package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

// Canned is one response the sandbox gave, replayed by the bare server.
type Canned struct {
	Method      string `json:"method"`
	Path        string `json:"path"` // without the query string
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        []byte `json:"body"`
}

// BareHandler is the ceiling: an echo server answering each canned route
// with its bytes — no authentication, no validation, no database, no
// encoding. Request bodies are read (as any server must) and dropped.
func BareHandler(routes []Canned) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.JSONBlob(http.StatusOK, []byte(`{"status":"ok"}`)) })
	for _, r := range routes {
		e.Add(r.Method, r.Path, func(c echo.Context) error {
			_, _ = io.Copy(io.Discard, c.Request().Body)
			return c.Blob(r.Status, r.ContentType, r.Body)
		})
	}
	return e
}

// ServeBare serves the canned routes in file on addr until ctx ends (the
// `sandbox bench --serve-bare` child process).
func ServeBare(ctx context.Context, addr, file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var routes []Canned
	if err := json.Unmarshal(raw, &routes); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: BareHandler(routes), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
