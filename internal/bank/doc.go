// Package bank is the sandbox's domain: accounts, ledgers, balances, consents,
// permissions and the access grant a resource call carries. It knows nothing
// of HTTP, of SQL or of any wire format: the UK Open Banking v3.1.11 shapes are
// rendered by package handlers, the tables live in package store. Keeping the
// bank apart from the wire format is what lets later profiles (UK OB v4.0,
// Berlin Group) serve the same data.
package bank
