// Package bench is the sandbox's own load benchmark (`sandbox bench`, issue
// 7): it seeds a large bank, starts the real sandbox as a child process of
// the same binary, obtains real tokens through the real consent flow (the
// reference TPP with the headless PSU), and drives bounded, closed-loop load
// on loopback against the sandbox, a bare echo server returning the very
// bytes the sandbox returned (the ceiling), and Stoplight Prism serving the
// project's own api/openapi.yaml examples (the generic mock a sandbox must
// beat). It reports requests/s, latency percentiles and peak RSS for each,
// the ratios between them, and writes them to a results file.
//
// The load generator is in-process Go: one goroutine per connection, each
// with its own keep-alive TCP connection, writing pre-serialised requests and
// timing every response (exact percentiles from all samples). Requests that
// must be unique (client assertions with single-use jti, payments with their
// own consent, idempotency keys) are prepared before the clock starts, so the
// generator's cost per request is the same for every target. Its CPU use is
// reported beside the server's: on a small machine the two share the cores,
// so ratios within one run are what to compare.
package bench
