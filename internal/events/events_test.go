package events

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

func TestPolicyDelay(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := p.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := p.Delay(13); got != time.Hour {
		t.Errorf("Delay(13) = %v, want the 1h cap", got)
	}
	if got := p.Delay(1000); got != time.Hour {
		t.Errorf("Delay(1000) = %v, want the 1h cap", got)
	}
	var total time.Duration
	for n := 1; n < p.MaxAttempts; n++ {
		total += p.Delay(n)
	}
	if total < 8*time.Hour || total > 9*time.Hour {
		t.Errorf("the last attempt comes %v after the first, documented as about 8 hours", total)
	}
}

func TestCheckCallbackURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		url       string
		httpsOnly bool
		ok        bool
	}{
		{"HTTPS", "https://tpp.example/open-banking/v3.1/event-notifications", true, true},
		{"HTTPSWithQuery", "https://tpp.example/hooks/event-notifications?tenant=7", false, true},
		{"LoopbackHTTPInDev", "http://127.0.0.1:8181/open-banking/v3.1/event-notifications", false, true},
		{"LocalhostHTTPInDev", "http://localhost:3000/event-notifications", false, true},
		{"IPv6LoopbackHTTPInDev", "http://[::1]:3000/event-notifications", false, true},
		{"ErrLoopbackHTTPInFAPI", "http://127.0.0.1:8181/event-notifications", true, false},
		{"ErrHTTPElsewhere", "http://tpp.example/event-notifications", false, false},
		{"ErrOtherScheme", "ftp://tpp.example/event-notifications", false, false},
		{"ErrRelative", "/open-banking/v3.1/event-notifications", false, false},
		{"ErrNoSuffix", "https://tpp.example/callback", false, false},
		{"ErrSuffixNotPath", "https://tpp.example/x?next=/event-notifications", false, false},
		{"ErrUserInfo", "https://user:pw@tpp.example/event-notifications", false, false},
		{"ErrFragment", "https://tpp.example/event-notifications#x", false, false},
		{"ErrMetadata", "https://169.254.169.254/event-notifications", false, false},
		{"ErrUnspecified", "https://0.0.0.0/event-notifications", false, false},
		{"ErrMulticast", "https://[ff02::1]/event-notifications", false, false},
		{"ErrGarbage", "::not a url", false, false},
		{"ErrTooLong", "https://tpp.example/" + strings.Repeat("a", 1100) + "/event-notifications", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCallbackURL(tt.url, tt.httpsOnly)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckCallbackURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
			}
			if err != nil {
				if be, ok := err.(*bank.Error); !ok || be.Kind != bank.KindFieldInvalid || be.Path != "Data.CallbackUrl" {
					t.Errorf("got %#v, want a Field.Invalid at Data.CallbackUrl", err)
				}
			}
		})
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version string
		types   []string
		want    []string
		kind    bank.Kind // 0: no error
	}{
		{"AllTypes", "3.1", nil, nil, 0},
		{"EmptyIsAll", "3.1.11", []string{}, nil, 0},
		{"Codes", "3.1", []string{"UK.OBIE.Resource-Update", "UK.OBIE.Consent-Access-Revoked", "UK.OBIE.Consent-Authorization-Revoked"},
			[]string{TypeResourceUpdate, TypeConsentAuthorizationRevoked}, 0},
		{"URNs", "3.1", []string{TypeLinkedAccountUpdate}, []string{TypeLinkedAccountUpdate}, 0},
		{"LegacyVersionResourceUpdateOnly", "3.1.1", nil, []string{TypeResourceUpdate}, 0},
		{"ErrLegacyVersionOtherType", "3.1.1", []string{"UK.OBIE.Consent-Authorization-Revoked"}, nil, bank.KindUnsupportedEventType},
		{"ErrUnknownType", "3.1", []string{"UK.OBIE.Resource-Update", "UK.OBIE.Payment-Made"}, nil, bank.KindUnsupportedEventType},
		{"Version4", "4.0", nil, nil, 0},
		{"Version4Minor", "4.0.1", []string{"UK.OBIE.Resource-Update"}, []string{TypeResourceUpdate}, 0},
		{"ErrVersion5", "5.0", nil, nil, bank.KindFieldInvalid},
		{"ErrVersionGarbage", "3.1.x", nil, nil, bank.KindFieldInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Filter(tt.version, tt.types)
			if tt.kind != 0 {
				if bank.KindOf(err) != tt.kind {
					t.Fatalf("got %v, want an error of kind %v", err, tt.kind)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v %v, want %v", got, err, tt.want)
			}
		})
	}
}
