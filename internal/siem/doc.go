// Package siem streams the audit trail and the security events to a
// security information and event management system as they commit: JSON
// lines to a file or standard output, and RFC 5424 syslog messages over TCP
// or TLS (RFC 6587 octet counting; RFC 5425 over TLS).
//
// The request path never waits for a SIEM: a committed record is offered
// to a bounded buffer without blocking, and one goroutine ships the buffer
// to every sink. A record that finds the buffer full is counted as dropped,
// raises a security event (at most once a minute) and is re-read from the
// audit trail, where it is kept whatever happens to the stream, once the
// buffer has room again: a slow SIEM delays records, it loses none (unless
// retention prunes them first, which is counted as lost).
package siem
