// Package e2e runs the real sandbox (app.New on 127.0.0.1:0 with a
// temp-dir SQLite file) and talks to it over HTTP, as users do. Every
// response the tests receive is validated against api/openapi.yaml and, for
// the Open Banking APIs, against the official UK OB v3.1.11 files in
// ../shared/ref (or $SANDBOX_REF_DIR).
package e2e
