// Package handlers puts the sandbox on HTTP: it mounts the routes and the
// middleware (interaction id, security headers, authentication, request
// validation against api/openapi.yaml), adapts requests to the bank, the
// authorization server and the store, and renders the answers in the
// standard's shapes. Handlers are thin: parse, authorise, call, render; they
// return errors and errors.go renders every one of them, in the envelope of
// the endpoint family (OBErrorResponse1 for the Open Banking APIs, RFC 6749
// for OAuth and the sandbox's own endpoints). No SQL lives here.
package handlers
