// Package scenario is the catalogue of bank behaviours a test can ask for —
// the PSU denies, SCA fails, a payment is rejected after Pending, a 503 with
// Retry-After, added latency, short pages — and the rules that choose one
// for a request: the x-sandbox-scenario header (dev profile), the consent it
// was created with, a PSU or a payment amount bound to it, or the scenario
// an admin made active for everyone.
//
// The catalogue starts from fixtures/scenarios.yaml and is edited through
// the admin API; the Registry keeps it in memory (every request consults it)
// and hands the store a JSON document to persist.
package scenario
