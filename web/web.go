// Package web holds the pages the sandbox serves to people — the PSU's login,
// consent and connected-apps pages, the home page and the trainer view — as
// embedded templates and static files: no build step, no JavaScript
// framework.
package web

import (
	"embed"
	"html/template"
	"io/fs"
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

// Templates parses every page; each page template is named after its file.
func Templates() (*template.Template, error) {
	return template.New("").Funcs(template.FuncMap{
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Format("2 January 2006")
		},
	}).ParseFS(templates, "templates/*.html")
}
