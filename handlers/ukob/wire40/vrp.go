package wire40

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
)

// VRPConsent reads v4.0's OBDomesticVRPConsentRequest Data: the
// Initiation (its reference a structured creditor reference) and the
// ControlParameters (as in v3.1.11).
func (Wire) VRPConsent(data json.RawMessage, now time.Time) (*bank.Initiation, error) {
	var d struct {
		Initiation struct {
			DebtorAccount         *obwire.AccountID `json:"DebtorAccount"`
			CreditorAccount       *obwire.AccountID `json:"CreditorAccount"`
			RemittanceInformation *remittanceIn     `json:"RemittanceInformation"`
		} `json:"Initiation"`
		ControlParameters obwire.ControlParameters `json:"ControlParameters"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, "Data", "the consent cannot be read: %v", err)
	}
	v := obwire.VRPConsent{Debtor: d.Initiation.DebtorAccount, Creditor: d.Initiation.CreditorAccount, Controls: d.ControlParameters}
	v.Reference, v.Unstructured = d.Initiation.RemittanceInformation.fields()
	return v.Initiation(now)
}

// VRPInstruction reads v4.0's OBDomesticVRPInstruction.
func (Wire) VRPInstruction(raw json.RawMessage) (*bank.Initiation, error) {
	var w struct {
		InstructionIdentification string           `json:"InstructionIdentification"`
		EndToEndIdentification    string           `json:"EndToEndIdentification"`
		LocalInstrument           string           `json:"LocalInstrument"`
		InstructedAmount          obwire.Amount    `json:"InstructedAmount"`
		CreditorAccount           obwire.AccountID `json:"CreditorAccount"`
		RemittanceInformation     *remittanceIn    `json:"RemittanceInformation"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, "Data.Instruction", "the Instruction cannot be read: %v", err)
	}
	p := obwire.Payment{InstructionID: w.InstructionIdentification, EndToEndID: w.EndToEndIdentification,
		LocalInstrument: w.LocalInstrument, Amount: w.InstructedAmount, Creditor: w.CreditorAccount}
	p.Reference, p.Unstructured = w.RemittanceInformation.fields()
	return p.Initiation("Data.Instruction")
}

// VRPStatusReason is a rejected VRP's reason: an OBStatusReason with the
// ISO 20022 code when the bank knows one (AM04, insufficient funds), else
// NARR with the bank's words.
func (Wire) VRPStatusReason(reason string) map[string]any {
	code := "NARR"
	if reason == bank.RejectInsufficientFunds {
		code = "AM04"
	}
	return map[string]any{"StatusReason": []map[string]string{{"StatusReasonCode": code, "StatusReasonDescription": httpx.Truncate(reason, 500)}}}
}

// VRPMember re-expresses a member of a VRP consent or payment (its
// "Initiation", "Instruction" or "Risk") kept in v3.1.11's shape — a
// consent made through v3.1 and used through v4.0, the standard's
// migration — in v4.0's: the remittance information structured, postal
// address types as codes, account names of at most 70 characters, the Risk
// in v4.0's words. What is in v4.0's shape already is left as it is.
func (Wire) VRPMember(name string, raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if dec.Decode(&v) != nil || v == nil {
		return raw
	}
	switch name {
	case "Initiation", "Instruction":
		for _, k := range []string{"DebtorAccount", "CreditorAccount"} {
			if a, ok := v[k].(map[string]any); ok {
				if n, ok := a["Name"].(string); ok {
					a["Name"] = runes(n, 70)
				}
			}
		}
		if a, ok := v["CreditorPostalAddress"].(map[string]any); ok {
			postalAddress(a)
		}
		if r, ok := v["RemittanceInformation"].(map[string]any); ok {
			v["RemittanceInformation"] = remittanceV4(r)
		}
	case "Risk":
		risk(v)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

// remittanceV4 turns v3.1.11's {Reference, Unstructured} into
// OBRemittanceInformation2: the reference a structured creditor
// reference, the text a one-line list.
func remittanceV4(r map[string]any) map[string]any {
	ref, hasRef := r["Reference"].(string)
	text, hasText := r["Unstructured"].(string)
	if !hasRef && !hasText {
		return r // v4.0's already
	}
	out := map[string]any{}
	if hasRef {
		out["Structured"] = []any{map[string]any{"CreditorReferenceInformation": map[string]any{"Reference": ref}}}
	}
	if hasText {
		out["Unstructured"] = []any{text}
	}
	return out
}

// addressTypes maps OBAddressTypeCode to v4.0's OBAddressType2Code.
var addressTypes = map[string]string{"Business": "BIZZ", "Correspondence": "CORR", "DeliveryTo": "DLVY", "MailTo": "MLTO",
	"POBox": "PBOX", "Postal": "ADDR", "Residential": "HOME", "Statement": "STAT"}

func postalAddress(a map[string]any) {
	if t, ok := a["AddressType"].(string); ok {
		if code, ok := addressTypes[t]; ok {
			a["AddressType"] = code
		}
	}
}

// contexts maps v3.1.11's deprecated PaymentContextCode values to v4.0's
// (OBInternalPaymentContext1Code); Other and PispPayee have none.
var contexts = map[string]string{"PartyToParty": "TransferToThirdParty", "BillPayment": "BillingGoodsAndServicesInArrears",
	"EcommerceGoods": "EcommerceMerchantInitiatedPayment", "EcommerceServices": "EcommerceMerchantInitiatedPayment"}

var v4Contexts = []string{"BillingGoodsAndServicesInAdvance", "BillingGoodsAndServicesInArrears", "EcommerceMerchantInitiatedPayment",
	"FaceToFacePointOfSale", "TransferToSelf", "TransferToThirdParty"}

// risk rewords an OBRisk1 of v3.1.11 for v4.0: the payment context in
// v4.0's list, ContractPresentIndicator spelt as v4.0 spells it, a purpose
// code only when it is one of OBExternalPurpose1Code's.
func risk(v map[string]any) {
	if c, ok := v["PaymentContextCode"].(string); ok && !slices.Contains(v4Contexts, c) {
		if w, ok := contexts[c]; ok {
			v["PaymentContextCode"] = w
		} else {
			delete(v, "PaymentContextCode")
		}
	}
	if b, ok := v["ContractPresentInidicator"]; ok {
		delete(v, "ContractPresentInidicator")
		if _, set := v["ContractPresentIndicator"]; !set {
			v["ContractPresentIndicator"] = b
		}
	}
	if p, ok := v["PaymentPurposeCode"].(string); ok && !slices.Contains(purposeCodes, p) {
		delete(v, "PaymentPurposeCode")
	}
	if a, ok := v["DeliveryAddress"].(map[string]any); ok {
		postalAddress(a)
	}
}

func runes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// purposeCodes is OBExternalPurpose1Code (ISO 20022 ExternalPurpose1Code),
// the PaymentPurposeCode v4.0 takes.
var purposeCodes = strings.Fields(`BKDF BKFE BKFM BKIP BKPP CBLK CDCB CDCD CDCS CDDP CDOC CDQC ETUP FCOL MTUP ACCT CASH COLL CSDB DEPT INTC
	INTP LIMA NETT BFWD CCIR CCPC CCPM CCSM CRDS CRPR CRSP CRTL EQPT EQUS EXPT EXTD FIXI FWBC FWCC FWSB FWSC MARG MBSB MBSC MGCC MGSC
	OCCC OPBC OPCC OPSB OPSC OPTN OTCD REPO RPBC RPCC RPSB RPSC RVPO SBSC SCIE SCIR SCRP SHBC SHCC SHSL SLEB SLOA SWBC SWCC SWPT SWSB
	SWSC TBAS TBBC TBCC TRCP AGRT AREN BEXP BOCE COMC CPYR GDDS GDSV GSCB LICF MP2B POPE ROYA SCVE SERV SUBS SUPP TRAD CHAR COMT MP2P
	ECPG ECPR ECPU EPAY CLPR COMP DBTC GOVI HLRP HLST INPC INPR INSC INSU INTE LBRI LIFI LOAN LOAR PENO PPTI RELG RINP TRFD FORW FXNT
	ADMG ADVA BCDM BCFG BLDM BNET CBFF CBFR CCRD CDBL CFEE CGDD CORT COST CPKC DCRD DSMT DVPM EDUC FACT FAND FCPM FEES GIFT GOVT ICCP
	IDCP IHRP INSM IVPT MCDM MCFG MSVC NOWS OCDM OCFG OFEE OTHR PADD PTSP RCKE RCPT REBT REFU RENT REOD RIMB RPNT RRBN RRCT RRTP RVPM
	SLPI SPLT STDY TBAN TBIL TCSC TELI TMPG TPRI TPRP TRNC TRVC WEBI IPAY IPCA IPDO IPEA IPEC IPEW IPPS IPRT IPU2 IPUW ANNI CAFI CFDI
	CMDT DERI DIVD FREX HEDG INVS PRME SAVG SECU SEPI TREA UNIT FNET FUTR ANTS CVCF DMEQ DNTS HLTC HLTI HSPC ICRF LTCF MAFC MARF MDCS
	VIEW CDEP SWFP SWPP SWRS SWUF ADCS AEMP ALLW ALMY BBSC BECH BENE BONU CCHD COMM CSLP GFRP GVEA GVEB GVEC GVED GWLT HREC PAYR PEFC
	PENS PRCP RHBS SALA SPSP SSBE LBIN LCOL LFEE LMEQ LMFI LMRK LREB LREV LSFL ESTX FWLV GSTX HSTX INTX NITX PTXP RDTX TAXS VATX WHLD
	TAXR B112 BR12 TLRF TLRR AIRB BUSB FERB RLWY TRPT CBTV ELEC ENRG GASB NWCH NWCM OTLC PHON UBIL WTER BOND CABD CAEQ CBCR DBCR DICL
	EQTS FLCR EFTC EFTD MOMA RAPI GAMB LOTT AMEX SASW AUCO PCOM PDEP PLDS PLRF GAFA GAHO CPEN DEPD RETL DEBT`)
