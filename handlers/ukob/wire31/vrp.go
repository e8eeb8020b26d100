package wire31

import (
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
)

// vrpRemittance is v3.1.11's VRP RemittanceInformation (of the consent's
// Initiation, and OBVRPRemittanceInformation of the Instruction).
type vrpRemittance struct {
	Unstructured string `json:"Unstructured"`
	Reference    string `json:"Reference"`
}

// VRPConsent reads OBDomesticVRPConsentRequest's Data: its Initiation and
// ControlParameters.
func (Wire) VRPConsent(data json.RawMessage, now time.Time) (*bank.Initiation, error) {
	var d struct {
		Initiation struct {
			DebtorAccount         *obwire.AccountID `json:"DebtorAccount"`
			CreditorAccount       *obwire.AccountID `json:"CreditorAccount"`
			RemittanceInformation *vrpRemittance    `json:"RemittanceInformation"`
		} `json:"Initiation"`
		ControlParameters obwire.ControlParameters `json:"ControlParameters"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, "Data", "the consent cannot be read: %v", err)
	}
	v := obwire.VRPConsent{Debtor: d.Initiation.DebtorAccount, Creditor: d.Initiation.CreditorAccount, Controls: d.ControlParameters}
	if r := d.Initiation.RemittanceInformation; r != nil {
		v.Reference, v.Unstructured = r.Reference, r.Unstructured
	}
	return v.Initiation(now)
}

// VRPInstruction reads OBDomesticVRPInstruction: the payment itself.
func (Wire) VRPInstruction(raw json.RawMessage) (*bank.Initiation, error) {
	var w struct {
		InstructionIdentification string           `json:"InstructionIdentification"`
		EndToEndIdentification    string           `json:"EndToEndIdentification"`
		LocalInstrument           string           `json:"LocalInstrument"`
		InstructedAmount          obwire.Amount    `json:"InstructedAmount"`
		CreditorAccount           obwire.AccountID `json:"CreditorAccount"`
		RemittanceInformation     *vrpRemittance   `json:"RemittanceInformation"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, "Data.Instruction", "the Instruction cannot be read: %v", err)
	}
	p := obwire.Payment{InstructionID: w.InstructionIdentification, EndToEndID: w.EndToEndIdentification,
		LocalInstrument: w.LocalInstrument, Amount: w.InstructedAmount, Creditor: w.CreditorAccount}
	if r := w.RemittanceInformation; r != nil {
		p.Reference, p.Unstructured = r.Reference, r.Unstructured
	}
	return p.Initiation("Data.Instruction")
}

// VRPMember: only consents made through v3.1.11 are served through it,
// so what is kept is already in its shape.
func (Wire) VRPMember(_ string, raw json.RawMessage) json.RawMessage { return raw }

// VRPStatusReason is a rejected VRP's reason: OBVRPStatusReasonCode
// UK.OBIE.OtherReason with the bank's words.
func (Wire) VRPStatusReason(reason string) map[string]any {
	return map[string]any{"StatusReason": "UK.OBIE.OtherReason", "StatusReasonDescription": httpx.Truncate(reason, 256)}
}
