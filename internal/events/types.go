package events

import (
	"maps"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// The event types the bank sends (event-notifications data model,
// OBEventNotification2 "events").
const (
	TypeResourceUpdate              = "urn:uk:org:openbanking:events:resource-update"
	TypeConsentAuthorizationRevoked = "urn:uk:org:openbanking:events:consent-authorization-revoked"
	TypeLinkedAccountUpdate         = "urn:uk:org:openbanking:events:account-access-consent-linked-account-update"
)

// Types are every event type the bank sends.
var Types = []string{TypeResourceUpdate, TypeConsentAuthorizationRevoked, TypeLinkedAccountUpdate}

// codes are the OBEventType1Code values (namespaced enumerations, "Event
// Notification API") and the event URN each selects. UK.OBIE.Consent-
// Access-Revoked ("access revoked, the consent stays Authorised") is what a
// PSU's revocation is in this sandbox; the standard gives it no URN of its
// own, so it selects consent-authorization-revoked too.
var codes = map[string]string{
	"UK.OBIE.Resource-Update":                              TypeResourceUpdate,
	"UK.OBIE.Consent-Authorization-Revoked":                TypeConsentAuthorizationRevoked,
	"UK.OBIE.Consent-Access-Revoked":                       TypeConsentAuthorizationRevoked,
	"UK.OBIE.Account-Access-Consent-Linked-Account-Update": TypeLinkedAccountUpdate,
}

// ParseType reads an event type as a subscription or the admin names it:
// an OBEventType1Code or the event URN itself.
func ParseType(v string) (string, bool) {
	if u, ok := codes[v]; ok {
		return u, true
	}
	if slices.Contains(Types, v) {
		return v, true
	}
	return "", false
}

var version = regexp.MustCompile(`^(3\.1|4\.0)(\.\d{1,2})?$`)

// Filter reads a subscription's Version and EventTypes into the event types
// it takes (nil: every type). Versions 3.1 and 4.0 are served (3.1, 3.1.N,
// 4.0, 4.0.N);
// 3.1.0 and 3.1.1 take resource-update only (the profile's backwards
// compatibility rule). Errors are the standard's: UK.OBIE.Field.Invalid for
// the version, UK.OBIE.Unsupported.EventType for an event type.
func Filter(ver string, types []string) ([]string, error) {
	if !version.MatchString(ver) {
		return nil, bank.Errorf(bank.KindFieldInvalid, "Data.Version", "Version %q is not served: this bank serves 3.1 (3.1 or 3.1.N) and 4.0 (4.0 or 4.0.N)", truncate(ver, 10))
	}
	legacy := ver == "3.1.0" || ver == "3.1.1"
	var out []string
	for i, t := range types {
		u, ok := ParseType(t)
		if !ok {
			return nil, bank.Errorf(bank.KindUnsupportedEventType, "Data.EventTypes", "EventTypes[%d] %q is not an event type this bank sends (%s)",
				i, truncate(t, 80), strings.Join(slices.Sorted(maps.Keys(codes)), ", "))
		}
		if legacy && u != TypeResourceUpdate {
			return nil, bank.Errorf(bank.KindUnsupportedEventType, "Data.EventTypes", "version %s takes resource-update events only", ver)
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if legacy && len(out) == 0 {
		out = []string{TypeResourceUpdate}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// CheckCallbackURL checks a subscription's CallbackUrl, the one URL the bank
// calls on a TPP's behalf (so: where SSRF would start). It must be absolute,
// without user info or fragment, end in /event-notifications (the
// subscription profile: ".../open-banking/v3.1/event-notifications"), use
// https — or, unless httpsOnly (the fapi profile), http on localhost or a
// loopback address — and not name a link-local, multicast or unspecified
// address. Names are resolved only when called, where the dialer refuses
// the same addresses (NewClient).
func CheckCallbackURL(raw string, httpsOnly bool) error {
	bad := func(format string, args ...any) error {
		return bank.Errorf(bank.KindFieldInvalid, "Data.CallbackUrl", format, args...)
	}
	if len(raw) > 1024 {
		return bad("CallbackUrl is longer than 1024 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return bad("CallbackUrl must be an absolute https URL")
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("CallbackUrl must not carry user information or a fragment")
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		if httpsOnly {
			return bad("CallbackUrl must use https in the fapi profile")
		}
		if !loopback(host) {
			return bad("CallbackUrl must use https (http only on localhost or 127.0.0.1, in the dev profile)")
		}
	default:
		return bad("CallbackUrl must use https")
	}
	if ip, err := netip.ParseAddr(host); err == nil && callbacks.Refused(ip) != nil {
		return bad("CallbackUrl names a link-local, multicast or unspecified address, which the bank never calls")
	}
	if !strings.HasSuffix(u.Path, "/event-notifications") {
		return bad("CallbackUrl must end in /event-notifications (e.g. https://tpp.example/open-banking/v3.1/event-notifications)")
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// resource is how an event's subject appears on the wire: its resource type
// (http://openbanking.org.uk/rty) and the path of its resource under the
// API's base path.
type resource struct{ rty, path string }

var resources = map[[2]string]resource{
	{store.EventConsent, bank.ConsentAccountAccess}:          {"account-access-consent", "/aisp/account-access-consents/"},
	{store.EventConsent, bank.ConsentDomesticPayment}:        {"domestic-payment-consent", "/pisp/domestic-payment-consents/"},
	{store.EventConsent, bank.ConsentDomesticScheduled}:      {"domestic-scheduled-payment-consent", "/pisp/domestic-scheduled-payment-consents/"},
	{store.EventConsent, bank.ConsentDomesticStanding}:       {"domestic-standing-order-consent", "/pisp/domestic-standing-order-consents/"},
	{store.EventConsent, bank.ConsentFundsConfirmation}:      {"funds-confirmation-consent", "/cbpii/funds-confirmation-consents/"},
	{store.EventPayment, bank.OrderDomestic}:                 {"domestic-payment", "/pisp/domestic-payments/"},
	{store.EventPayment, bank.OrderScheduled}:                {"domestic-scheduled-payment", "/pisp/domestic-scheduled-payments/"},
	{store.EventPayment, bank.OrderStanding}:                 {"domestic-standing-order", "/pisp/domestic-standing-orders/"},
	{store.EventConsent, bank.ConsentDomesticVRP}:            {"domestic-vrp-consent", "/pisp/domestic-vrp-consents/"},
	{store.EventPayment, bank.OrderVRP}:                      {"domestic-vrp", "/pisp/domestic-vrps/"},
	{store.EventConsent, bank.ConsentInternationalPayment}:   {"international-payment-consent", "/pisp/international-payment-consents/"},
	{store.EventConsent, bank.ConsentInternationalScheduled}: {"international-scheduled-payment-consent", "/pisp/international-scheduled-payment-consents/"},
	{store.EventConsent, bank.ConsentInternationalStanding}:  {"international-standing-order-consent", "/pisp/international-standing-order-consents/"},
	{store.EventPayment, bank.OrderInternational}:            {"international-payment", "/pisp/international-payments/"},
	{store.EventPayment, bank.OrderInternationalScheduled}:   {"international-scheduled-payment", "/pisp/international-scheduled-payments/"},
	{store.EventPayment, bank.OrderInternationalStanding}:    {"international-standing-order", "/pisp/international-standing-orders/"},
	{store.EventConsent, bank.ConsentFilePayment}:            {"file-payment-consent", "/pisp/file-payment-consents/"},
	{store.EventPayment, bank.OrderFile}:                     {"file-payment", "/pisp/file-payments/"},
}
