package ukob

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// filePayments are file payments (the standard's "File Payments"): the
// consent carries the file's metadata, the file is uploaded against it.
var filePayments = &paymentType{consent: bank.ConsentFilePayment, order: bank.OrderFile,
	consents: "file-payment-consents", orders: "file-payments", idName: "FilePaymentId"}

// mountFiles serves the file's upload and download and the report file.
// The upload is limited by the server's body limit (--body-limit, 1 MiB by
// default: 413 above it).
func (s *Server) mountFiles(e *echo.Echo) {
	consents := httpx.Need{Scope: oauth.ScopePayments, Class: gateway.ClassConsents}
	orders := httpx.Need{Scope: oauth.ScopePayments, Class: gateway.ClassPayments}
	m := func(method, path string, n httpx.Need, h echo.HandlerFunc) {
		s.Mount(e, s.contract, method, path, n, h, s.signResponse)
	}
	m(http.MethodPost, "/pisp/file-payment-consents/{ConsentId}/file", consents, s.uploadFile)
	m(http.MethodGet, "/pisp/file-payment-consents/{ConsentId}/file", consents, s.downloadFile)
	m(http.MethodGet, "/pisp/file-payments/{FilePaymentId}/report-file", orders, s.reportFile)
}

// uploadFile takes the payment file in the request body (Content-Type
// application/json for the JSON file type, application/xml or text/xml for
// pain.001) and checks it against the consent's metadata; 200 with no body.
func (s *Server) uploadFile(c echo.Context) error {
	raw, err := body(c)
	if err != nil {
		return err
	}
	if err := s.verifySignature(c, raw); err != nil {
		return err
	}
	sum := bank.FileHash(raw) // the idempotency of an upload is its bytes, not their JSON
	id := bank.Idem{ClientID: httpx.PrincipalOf(c).Token.ClientID, Operation: "file-payment-consents/file",
		Key: c.Request().Header.Get("x-idempotency-key"), BodyHash: sum}
	media, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	err = s.Bank.UploadFile(c.Request().Context(), bank.Upload{ClientID: id.ClientID, ConsentID: c.Param("ConsentId"),
		MediaType: media, Content: raw, Idem: id, Parse: func(fileType string, content []byte) ([]bank.Initiation, error) {
			return s.readFile(fileType, media, content)
		}})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

// readFile reads a payment file's instructions, each checked as a domestic
// payment; an error names the instruction (1-based) at fault.
func (s *Server) readFile(fileType, media string, content []byte) ([]bank.Initiation, error) {
	var out []bank.Initiation
	at := func(i int, err error) error {
		var be *bank.Error
		if errors.As(err, &be) {
			return bank.Errorf(be.Kind, strings.Replace(be.Path, "Data.Initiation", fmt.Sprintf("file: instruction %d", i+1), 1),
				"instruction %d of the file: %s", i+1, be.Message)
		}
		return err
	}
	switch fileType {
	case bank.FileTypePain001:
		if media != "application/xml" && media != "text/xml" {
			return nil, bank.Errorf(bank.KindFieldInvalid, "Content-Type", "a %s file is sent as application/xml or text/xml, not %s", fileType, media)
		}
		list, err := obwire.ReadPain001(content)
		if err != nil {
			return nil, err
		}
		for i, p := range list {
			in, err := p.Initiation("Data.Initiation")
			if err != nil {
				return nil, at(i, err)
			}
			out = append(out, *in)
		}
	default:
		if !strings.HasPrefix(media, "application/json") {
			return nil, bank.Errorf(bank.KindFieldInvalid, "Content-Type", "a %s file is sent as application/json, not %s", fileType, media)
		}
		var f obwire.JSONFile
		if err := json.Unmarshal(content, &f); err != nil {
			return nil, bank.Errorf(bank.KindMalformed, "", "the payment file is not the standard's JSON file ({\"Data\":{\"DomesticPayments\":[...]}}): %v", err)
		}
		for i, raw := range f.Data.DomesticPayments {
			in, err := s.w.Initiation(bank.ConsentDomesticPayment, raw, s.Clock.Now())
			if err != nil {
				return nil, at(i, err)
			}
			out = append(out, *in)
		}
	}
	if len(out) == 0 {
		return nil, bank.Errorf(bank.KindFieldInvalid, "", "the payment file holds no instruction")
	}
	return out, nil
}

// downloadFile answers the file as it was uploaded.
func (s *Server) downloadFile(c echo.Context) error {
	cn, err := s.ownConsent(c, bank.ConsentFilePayment)
	if err != nil {
		return err
	}
	f, err := s.Bank.PaymentFileOf(c.Request().Context(), cn)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, f.MediaType, f.Content)
}

// reportFile lists what became of each instruction of a file payment: its
// status, the reason of a failure and the TransactionId of its ledger entry
// (the standard leaves the report's format to the bank; this is JSON).
func (s *Server) reportFile(c echo.Context) error {
	p, err := s.ownPayment(c, filePayments)
	if err != nil {
		return err
	}
	list, err := s.Bank.FileReport(c.Request().Context(), p)
	if err != nil {
		return err
	}
	type line struct {
		Number                    int            `json:"Number"`
		InstructionIdentification string         `json:"InstructionIdentification"`
		EndToEndIdentification    string         `json:"EndToEndIdentification"`
		InstructedAmount          *obwire.Amount `json:"InstructedAmount"`
		CreditorAccount           any            `json:"CreditorAccount"`
		Status                    string         `json:"Status"`
		StatusReason              string         `json:"StatusReason,omitempty"`
		TransactionID             string         `json:"TransactionId,omitempty"`
	}
	lines := make([]line, 0, len(list))
	for _, x := range list {
		st := x.Status
		if st == "" {
			st = bank.OrderInitiationPending
		}
		lines = append(lines, line{Number: x.Seq, InstructionIdentification: x.Initiation.InstructionID, EndToEndIdentification: x.Initiation.EndToEndID,
			InstructedAmount: obwire.NewAmount(x.Initiation.Amount, x.Initiation.Currency), CreditorAccount: obwire.NewCashAccount(x.Initiation.Creditor),
			Status: s.w.OrderStatus(bank.OrderFile, st), StatusReason: x.Reason, TransactionID: x.Transaction})
	}
	return c.JSON(http.StatusOK, map[string]any{"Data": map[string]any{"FilePaymentId": p.ID, "Status": s.w.OrderStatus(bank.OrderFile, p.Status),
		"Instructions": lines}, "Links": obwire.Links{Self: s.Cfg.Issuer + c.Request().URL.Path}, "Meta": obwire.Meta{}})
}
