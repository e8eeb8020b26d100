// Package web holds the pages the sandbox serves to people — the PSU's login,
// consent and connected-apps pages, the home page and the trainer view — as
// embedded templates and static files: no build step, no JavaScript
// framework.
package web

import (
	"embed"
	"html/template"
	"io/fs"
	"sync"
	"time"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Static is the static files (CSS), served under /static/.
func Static() fs.FS {
	sub, _ := fs.Sub(static, "static")
	return sub
}

// Templates is every page parsed; each page template is named after its
// file. They are parsed once per process and shared (executing them is
// safe from any number of goroutines).
var Templates = sync.OnceValues(parse)

func parse() (*template.Template, error) {
	return template.New("").Funcs(template.FuncMap{
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Format("2 January 2006")
		},
	}).ParseFS(templates, "templates/*.html")
}
