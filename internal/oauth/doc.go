// Package oauth is the sandbox's authorization server: the bank's signing
// keys and JWKS, client registration, client authentication, the authorize
// and token endpoints' rules, request objects, PAR, authorization codes,
// access and refresh tokens, and the check the resource server makes on every
// call. It speaks in Go values and bank errors; package handlers puts it on
// HTTP. Rules cite the RFC or FAPI clause they come from.
package oauth
