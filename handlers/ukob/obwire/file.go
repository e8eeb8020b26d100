package obwire

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// FileInitiation is a file payment consent's Initiation (the file's
// metadata), the same in v3.1.11 and v4.0 but for the JSON file type's
// name.
type FileInitiation struct {
	FileType                   string      `json:"FileType"`
	FileHash                   string      `json:"FileHash"`
	FileReference              string      `json:"FileReference"`
	NumberOfTransactions       string      `json:"NumberOfTransactions"`
	ControlSum                 json.Number `json:"ControlSum"`
	RequestedExecutionDateTime string      `json:"RequestedExecutionDateTime"`
	LocalInstrument            string      `json:"LocalInstrument"`
	DebtorAccount              *AccountID  `json:"DebtorAccount"`
}

// ReadFileInitiation reads and checks a file payment's metadata: a file
// type of the version (jsonType, or pain.001.001.08), a base64 SHA-256
// FileHash, a count, a control sum with at most two decimals, an execution
// date ahead if any.
func ReadFileInitiation(raw json.RawMessage, jsonType string, now time.Time) (*bank.Initiation, error) {
	const path = "Data.Initiation"
	var w FileInitiation
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, path, "the Initiation cannot be read: %v", err)
	}
	if !slices.Contains([]string{jsonType, bank.FileTypePain001}, w.FileType) {
		return nil, bank.Errorf(bank.KindFieldInvalid, path+".FileType", "the bank takes %s and %s files, not %q", jsonType, bank.FileTypePain001, w.FileType)
	}
	if len(w.FileHash) != 44 || !strings.HasSuffix(w.FileHash, "=") {
		return nil, bank.Errorf(bank.KindFieldInvalid, path+".FileHash", "FileHash is the base64 encoding of the file's SHA-256 hash (44 characters)")
	}
	in := &bank.Initiation{FileType: w.FileType, FileHash: w.FileHash, LocalInstrument: w.LocalInstrument, Currency: bank.SupportedPaymentCurrency,
		Reference: w.FileReference}
	if w.DebtorAccount != nil {
		d := w.DebtorAccount.Ref()
		in.Debtor = &d
	}
	if w.NumberOfTransactions != "" {
		if _, err := fmt.Sscan(w.NumberOfTransactions, &in.Count); err != nil || in.Count < 1 {
			return nil, bank.Errorf(bank.KindFieldInvalid, path+".NumberOfTransactions", "NumberOfTransactions is a whole number from 1")
		}
	}
	if w.ControlSum != "" {
		v, err := bank.ParseMinor(w.ControlSum.String())
		if err != nil {
			return nil, bank.Errorf(bank.KindFieldInvalid, path+".ControlSum", "ControlSum is a decimal with at most two decimals: %v", err)
		}
		in.ControlSum, in.HasControlSum, in.Amount = v, true, v
	}
	if w.RequestedExecutionDateTime != "" {
		t, err := FutureTime(w.RequestedExecutionDateTime, path+".RequestedExecutionDateTime", now)
		if err != nil {
			return nil, err
		}
		in.RequestedAt = t
	}
	return in, nil
}

// JSONFile is the standard's JSON payment file: the domestic payments'
// Initiations, each in the version's shape.
type JSONFile struct {
	Data struct {
		DomesticPayments []json.RawMessage `json:"DomesticPayments"`
	} `json:"Data"`
}

// pain.001.001.08 (ISO 20022 CustomerCreditTransferInitiationV08): the
// members the bank acts on.
type pain001 struct {
	XMLName xml.Name `xml:"Document"`
	Init    struct {
		GrpHdr struct {
			MsgID   string `xml:"MsgId"`
			NbOfTxs string `xml:"NbOfTxs"`
			CtrlSum string `xml:"CtrlSum"`
		} `xml:"GrpHdr"`
		PmtInf []struct {
			PmtInfID string `xml:"PmtInfId"`
			CdtTrf   []struct {
				PmtID struct {
					InstrID    string `xml:"InstrId"`
					EndToEndID string `xml:"EndToEndId"`
				} `xml:"PmtId"`
				Amt struct {
					InstdAmt struct {
						Ccy   string `xml:"Ccy,attr"`
						Value string `xml:",chardata"`
					} `xml:"InstdAmt"`
				} `xml:"Amt"`
				Cdtr struct {
					Nm string `xml:"Nm"`
				} `xml:"Cdtr"`
				CdtrAcct struct {
					ID struct {
						IBAN string `xml:"IBAN"`
						Othr struct {
							ID      string `xml:"Id"`
							SchmeNm struct {
								Cd    string `xml:"Cd"`
								Prtry string `xml:"Prtry"`
							} `xml:"SchmeNm"`
						} `xml:"Othr"`
					} `xml:"Id"`
				} `xml:"CdtrAcct"`
				RmtInf struct {
					Ustrd []string `xml:"Ustrd"`
					Strd  []struct {
						CdtrRefInf struct {
							Ref string `xml:"Ref"`
						} `xml:"CdtrRefInf"`
					} `xml:"Strd"`
				} `xml:"RmtInf"`
			} `xml:"CdtTrfTxInf"`
		} `xml:"PmtInf"`
	} `xml:"CstmrCdtTrfInitn"`
}

// ReadPain001 reads a pain.001.001.08 file's credit transfers as domestic
// payments. The XML is parsed strictly by encoding/xml, which expands no
// entity but XML's five; a document type declaration (where entities
// would be declared, internal or external) is refused outright, as is any
// entity reference, so neither entity expansion nor an external entity can
// reach the bank.
func ReadPain001(content []byte) ([]Payment, error) {
	d := xml.NewDecoder(bytes.NewReader(content))
	d.Strict = true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bank.Errorf(bank.KindMalformed, "", "the pain.001 file is not well-formed XML: %v", err)
		}
		if dir, ok := tok.(xml.Directive); ok && bytes.HasPrefix(bytes.TrimSpace(dir), []byte("DOCTYPE")) {
			return nil, bank.Errorf(bank.KindMalformed, "", "the pain.001 file declares a document type: DTDs and entities are refused")
		}
		if _, ok := tok.(xml.Directive); ok {
			return nil, bank.Errorf(bank.KindMalformed, "", "the pain.001 file holds a <!...> directive: refused")
		}
	}
	var doc pain001
	if err := xml.Unmarshal(content, &doc); err != nil {
		return nil, bank.Errorf(bank.KindMalformed, "", "the pain.001 file cannot be read: %v", err)
	}
	var out []Payment
	for _, pi := range doc.Init.PmtInf {
		for _, t := range pi.CdtTrf {
			p := Payment{InstructionID: t.PmtID.InstrID, EndToEndID: t.PmtID.EndToEndID,
				Amount: Amount{Amount: strings.TrimSpace(t.Amt.InstdAmt.Value), Currency: t.Amt.InstdAmt.Ccy}}
			p.Creditor.Name = t.Cdtr.Nm
			switch id := t.CdtrAcct.ID; {
			case id.IBAN != "":
				p.Creditor.SchemeName, p.Creditor.Identification = bank.SchemeIBAN, id.IBAN
			default:
				p.Creditor.SchemeName, p.Creditor.Identification = id.Othr.SchmeNm.Prtry, id.Othr.ID
				if p.Creditor.SchemeName == "" {
					p.Creditor.SchemeName = bank.SchemeSortCode // a UK BBAN: sort code and account number
				}
			}
			if len(t.RmtInf.Strd) > 0 {
				p.Reference = t.RmtInf.Strd[0].CdtrRefInf.Ref
			}
			if len(t.RmtInf.Ustrd) > 0 {
				p.Unstructured = t.RmtInf.Ustrd[0]
			}
			out = append(out, p)
		}
	}
	return out, nil
}
