// Package berlin is the Berlin Group NextGenPSD2 XS2A 1.3.12 API over the
// bank (/psd2/v1/...): consents and account information, payments by
// service and product, funds confirmation (PIIS), signing baskets and the
// authorisation sub-resources of each, in the standard's own shapes. The
// TPP is identified by its QWAC (mutual TLS, or in the dev profile the
// TPP-QWAC-Certificate header) and its PSD2 roles; errors are tppMessages
// with the Implementation Guidelines' codes; every answer carries _links
// and X-Request-ID. The rules are the bank's (internal/bank berlin*.go):
// this package reads the wire format, calls them and writes the answer.
package berlin
