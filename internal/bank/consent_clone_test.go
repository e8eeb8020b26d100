package bank

import (
	"reflect"
	"testing"
)

// TestConsentCloneSharesNothing: a clone is equal to its consent, and
// changing anything the clone holds leaves the consent as it was (the store
// hands out clones of what it remembers).
func TestConsentCloneSharesNothing(t *testing.T) {
	t.Parallel()
	c := Consent{ID: "c1", Accounts: []string{"a1", "a2"}, Request: []byte(`{"x":1}`), Initiation: &Initiation{
		Amount: 100, Debtor: &AccountRef{Identification: "d"}, FX: &Quote{Rate: 7},
		Controls: &VRPControls{Periodic: []PeriodicLimit{{Amount: 5}}, Types: []string{"t"}, AuthMethods: []string{"m"}, Interactions: []string{"i"}}}}
	d := c.Clone()
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("clone %+v differs from %+v", d, c)
	}
	d.Accounts[0], d.Request[0] = "x", 'X'
	d.Initiation.Amount, d.Initiation.Debtor.Identification, d.Initiation.FX.Rate = 1, "x", 1
	d.Initiation.Controls.Periodic[0].Amount, d.Initiation.Controls.Types[0] = 1, "x"
	d.Initiation.Controls.AuthMethods[0], d.Initiation.Controls.Interactions[0] = "x", "x"
	want := Consent{ID: "c1", Accounts: []string{"a1", "a2"}, Request: []byte(`{"x":1}`), Initiation: &Initiation{
		Amount: 100, Debtor: &AccountRef{Identification: "d"}, FX: &Quote{Rate: 7},
		Controls: &VRPControls{Periodic: []PeriodicLimit{{Amount: 5}}, Types: []string{"t"}, AuthMethods: []string{"m"}, Interactions: []string{"i"}}}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("changing the clone changed the consent: %+v", c)
	}
}
