package tpp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math/big"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// Files is the family of file payments.
var Files = Kind{"file-payment-consents", "file-payments", "FilePaymentId"}

// FileMeta is what a file payment consent says of its file: the type, the
// base64 SHA-256 hash, the number of instructions and their total, as the
// TPP reads them from the file.
type FileMeta struct {
	FileType, MediaType, FileHash string
	Count                         int
	ControlSum                    string
}

// ReadFileMeta reads a payment file's metadata: a pain.001.001.08 file
// (XML: its group header's NbOfTxs and CtrlSum) or the standard's JSON file
// of the TPP's version (its Data.DomesticPayments, counted and added up).
func (c *Client) ReadFileMeta(file []byte) (FileMeta, error) {
	sum := sha256.Sum256(file)
	m := FileMeta{FileHash: base64.StdEncoding.EncodeToString(sum[:])}
	if t := bytes.TrimSpace(file); len(t) > 0 && t[0] == '<' {
		var doc struct {
			NbOfTxs string `xml:"CstmrCdtTrfInitn>GrpHdr>NbOfTxs"`
			CtrlSum string `xml:"CstmrCdtTrfInitn>GrpHdr>CtrlSum"`
		}
		if err := xml.Unmarshal(file, &doc); err != nil {
			return m, fmt.Errorf("the file is not pain.001 XML: %w", err)
		}
		m.FileType, m.MediaType, m.ControlSum = "UK.OBIE.pain.001.001.08", "application/xml", doc.CtrlSum
		_, err := fmt.Sscan(doc.NbOfTxs, &m.Count)
		return m, err
	}
	var f struct {
		Data struct {
			DomesticPayments []struct {
				InstructedAmount struct{ Amount string }
			}
		}
	}
	if err := json.Unmarshal(file, &f); err != nil {
		return m, fmt.Errorf("the file is neither pain.001 XML nor the standard's JSON file: %w", err)
	}
	total := new(big.Rat)
	for _, p := range f.Data.DomesticPayments {
		v, ok := new(big.Rat).SetString(p.InstructedAmount.Amount)
		if !ok {
			return m, fmt.Errorf("amount %q is not a number", p.InstructedAmount.Amount)
		}
		total.Add(total, v)
	}
	m.FileType, m.MediaType = "UK.OBIE.PaymentInitiation."+map[bool]string{true: "4.0", false: "3.1"}[c.Version == "4.0"], "application/json"
	m.Count, m.ControlSum = len(f.Data.DomesticPayments), total.FloatString(2)
	return m, nil
}

// FilePayment pays a file: the consent with its metadata, the upload, the
// PSU's approval (approve), the order. It returns the order's id and the
// report file.
func (c *Client) FilePayment(ctx context.Context, ccToken string, file []byte, approve func(consent string) (*Tokens, error)) (string, json.RawMessage, error) {
	m, err := c.ReadFileMeta(file)
	if err != nil {
		return "", nil, err
	}
	in := map[string]any{"FileType": m.FileType, "FileHash": m.FileHash, "FileReference": "SANDBOX TPP FILE",
		"NumberOfTransactions": fmt.Sprint(m.Count), "ControlSum": json.Number(strings.TrimSpace(m.ControlSum))}
	st, body, _, err := c.SignedPost(ctx, c.API()+"/pisp/"+Files.Consents, ccToken, uuid.NewString(), map[string]any{"Data": map[string]any{"Initiation": in}})
	if err != nil {
		return "", nil, err
	}
	if st != http.StatusCreated {
		return "", nil, &StatusError{Status: st, Body: body}
	}
	var cn struct{ Data struct{ ConsentId string } }
	if err := json.Unmarshal(body, &cn); err != nil {
		return "", nil, err
	}
	sig, err := c.Signature(file)
	if err != nil {
		return "", nil, err
	}
	st, body, _, err = c.Send(ctx, http.MethodPost, c.API()+"/pisp/"+Files.Consents+"/"+cn.Data.ConsentId+"/file", m.MediaType, ccToken, file,
		map[string]string{"x-jws-signature": sig, "x-idempotency-key": uuid.NewString()})
	if err != nil {
		return "", nil, err
	}
	if st != http.StatusOK {
		return "", nil, &StatusError{Status: st, Body: body}
	}
	toks, err := approve(cn.Data.ConsentId)
	if err != nil {
		return "", nil, err
	}
	st, body, _, err = c.SignedPost(ctx, c.API()+"/pisp/"+Files.Orders, toks.AccessToken, uuid.NewString(),
		map[string]any{"Data": map[string]any{"ConsentId": cn.Data.ConsentId, "Initiation": in}})
	if err != nil {
		return "", nil, err
	}
	if st != http.StatusCreated {
		return "", nil, &StatusError{Status: st, Body: body}
	}
	var p struct {
		Data struct{ FilePaymentId string }
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", nil, err
	}
	var report json.RawMessage
	err = c.Call(ctx, http.MethodGet, c.API()+"/pisp/"+Files.Orders+"/"+p.Data.FilePaymentId+"/report-file", "", ccToken, nil, http.StatusOK, &report)
	return p.Data.FilePaymentId, report, err
}
