// Package handlers puts the sandbox on HTTP: New builds the shared server
// (package httpx: middleware, authentication, validation, the one error
// entry point) and mounts each surface, one package each: the UK Open
// Banking API (ukob), the authorization server (asapi), the PSU's pages
// (psu), the sandbox controls (sandboxapi) and the trainer view (trainer).
// Handlers are thin: parse, call the bank or the authorization server,
// render; no SQL and no business rule lives here.
package handlers
