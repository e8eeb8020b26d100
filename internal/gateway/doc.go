// Package gateway holds what a bank's API gateway enforces in front of the
// APIs, apart from the OAuth checks: rate limits per client and endpoint
// class (token buckets from golang.org/x/time/rate), per-IP limits on the
// unauthenticated endpoints, and the UK unattended-access limit. Every limit
// runs on the sandbox clock, so moving the clock refills buckets and turns
// days.
package gateway
