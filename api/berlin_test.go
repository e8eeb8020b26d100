package api

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// berlinServices are the values of the official {payment-service}, which our
// contract writes out path by path.
var berlinServices = []string{"payments", "periodic-payments", "bulk-payments"}

// TestBerlinGroupContract: the contract loads, is served under /psd2, and
// has every operation of the official 1.3.12 file — those with
// {payment-service} once per service — and no other.
func TestBerlinGroupContract(t *testing.T) {
	t.Parallel()
	doc, err := BerlinGroup.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ours := operations(doc)
	if len(ours) != 62 {
		t.Errorf("%d operations, want 62 (the official 38, the 12 payment ones for each of 3 services)", len(ours))
	}
	raw, err := os.ReadFile(filepath.Join(refDir(), "berlin-group", "psd2-api_v1.3.12-2022-07-06.yaml"))
	if err != nil {
		t.Skipf("the official Berlin Group file is not here (%v); set SANDBOX_REF_DIR", err)
	}
	var f struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	var official []string
	for path, item := range f.Paths {
		for method := range item {
			op := strings.ToUpper(method)
			if !slices.Contains(httpMethods, op) {
				continue
			}
			if !strings.Contains(path, "{payment-service}") {
				official = append(official, op+" "+path)
				continue
			}
			for _, svc := range berlinServices {
				official = append(official, op+" "+strings.ReplaceAll(path, "{payment-service}", svc))
			}
		}
	}
	if len(f.Paths) == 0 || len(official) != 62 {
		t.Fatalf("the official file gives %d operations, want 62", len(official))
	}
	for _, op := range official {
		if !slices.Contains(ours, op) {
			t.Errorf("official %s is not in api/%s", op, BerlinGroup.File())
		}
	}
	for _, op := range ours {
		if !slices.Contains(official, op) {
			t.Errorf("api/%s has %s, which the official file does not", BerlinGroup.File(), op)
		}
	}
	// The schemas keep the official names, enums and required lists.
	for _, name := range []string{"consents", "accountAccess", "transactionStatus", "consentStatus", "scaStatus", "paymentInitiation_json",
		"periodicPaymentInitiation_json", "bulkPaymentInitiation_json", "accountReference", "amount", "tppMessage400_AIS"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("schema %s is missing", name)
		}
	}
	if got := doc.Components.Schemas["consents"].Value.Required; !slices.Equal(got,
		[]string{"access", "recurringIndicator", "validUntil", "frequencyPerDay", "combinedServiceIndicator"}) {
		t.Errorf("consents.required = %v", got)
	}
}
