// Package events delivers the bank's event notifications (UK OB R/W v3.1.11
// Event Notification, Event Subscription and Aggregated Polling API
// profiles): it signs each event of the outbox as a Security Event Token
// (RFC 8417; a JWT signed PS256 with the bank's current key, verifiable with
// /as/jwks), pushes it to the TPP's CallbackUrl with retries and exponential
// backoff on the sandbox clock, and serves the same SETs to aggregated
// polling.
//
// The events themselves are not made here: SQLite triggers (store migration
// 011) write them to the outbox in the same transaction as the change they
// report, so a committed change always has its event and no store mutation
// needs to know about events. This package owns what happens next.
//
// Push and poll share one outbox. An event is awaiting until the TPP
// acknowledges it, either by answering a push with 2xx or by listing its jti
// in a poll's ack; an acknowledged event is neither pushed nor polled again.
// A poll returns every awaiting event, including those whose push is still
// being retried, so a TPP whose endpoint was down can catch up by polling.
package events
