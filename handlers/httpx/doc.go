// Package httpx is the HTTP server every surface shares: the middleware each
// request goes through (interaction id, security headers, limits, CORS,
// metrics, panic recovery, the audit trail, the body limit, scenarios),
// authentication of access tokens (RequireToken), validation of requests
// against a contract (Contract, ValidateRequest), the one error entry point
// that hands each error to its surface's envelope, and the page helpers.
// No surface's wire format lives here.
package httpx
