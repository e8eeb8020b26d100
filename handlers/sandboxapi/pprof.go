package sandboxapi

import (
	"net/http"
	"net/http/pprof"

	"github.com/labstack/echo/v4"
)

// mountPProf serves Go's profiler under /sandbox/debug/pprof/ when the
// sandbox was started with --pprof: off by default, and behind the admin
// token like every other /sandbox endpoint (profiles show request data and
// the CPU profile costs the server while it runs).
// `go tool pprof -http=: -H "Authorization: Bearer $ADMIN" URL/sandbox/debug/pprof/profile?seconds=10`.
func (s *Server) mountPProf(admin *echo.Group) {
	if !s.Cfg.PProf {
		return
	}
	admin.GET("/debug/pprof/", echo.WrapHandler(http.HandlerFunc(pprof.Index)))
	admin.GET("/debug/pprof/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)))
	admin.GET("/debug/pprof/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
	admin.GET("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	admin.POST("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	admin.GET("/debug/pprof/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	// pprof.Index finds named profiles only under /debug/pprof/ at the
	// root, so heap, goroutine, allocs, block, mutex... are looked up here.
	admin.GET("/debug/pprof/:name", func(c echo.Context) error {
		pprof.Handler(c.Param("name")).ServeHTTP(c.Response(), c.Request())
		return nil
	})
}
