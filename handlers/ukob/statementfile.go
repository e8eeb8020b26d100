package ukob

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
)

// mountStatementFile serves GET .../statements/{StatementId}/file: the
// statement as a PDF (default), CSV or JSON, chosen by Accept. The official
// file lists only JSON for this operation (its File schema is an open
// object); the JSON form is the statement and its booked transactions in
// the shapes of the statements and transactions endpoints. It needs
// ReadStatementsDetail (SUMMARY §3).
func (s *Server) mountStatementFile(e *echo.Echo, n httpx.Need) {
	const path = "/aisp/accounts/{AccountId}/statements/{StatementId}/file"
	e.GET(s.contract.Route(path), s.statementFile, acceptFile, s.RequireToken(n), httpx.ValidateRequest(s.contract.Op(http.MethodGet, path)))
}

func acceptFile(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if fileType(c.Request().Header.Get("Accept")) == "" {
			return echo.NewHTTPError(http.StatusNotAcceptable)
		}
		return next(c)
	}
}

// fileType picks the statement file type an Accept header asks for: the
// first media range it lists that one of the forms matches.
func fileType(accept string) string {
	if accept == "" {
		return "application/pdf"
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || httpx.Refused(params) {
			continue
		}
		switch mt {
		case "application/pdf", "*/*", "application/*":
			return "application/pdf"
		case "text/csv", "text/*":
			return "text/csv"
		case "application/json":
			return "application/json"
		}
	}
	return ""
}

func (s *Server) statementFile(c echo.Context) error {
	f, err := s.Bank.PrintStatement(c.Request().Context(), httpx.GrantOf(c), bank.StatementRequest{AccountID: c.Param("AccountId"),
		StatementID: c.Param("StatementId")})
	if err != nil {
		return err
	}
	st, items, acct := f.Statement, f.Transactions, f.Account
	name := fmt.Sprintf("statement-%s", st.Reference)
	switch fileType(c.Request().Header.Get("Accept")) {
	case "application/json":
		txs := make([]any, len(items))
		for i := range items {
			txs[i] = s.w.Transaction(&items[i], true)
		}
		return c.JSON(http.StatusOK, obwire.Envelope{Data: map[string]any{"Statement": []any{s.w.Statement(st, true)}, "Transaction": txs},
			Links: s.links(c, pageReq{}, 0), Meta: obwire.Meta{TotalPages: 1}})
	case "text/csv":
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{"Date", "Description", "Money in", "Money out", "Balance"})
		for _, t := range items {
			in, out := "", ""
			if t.Amount > 0 {
				in = bank.FormatMinor(t.Amount)
			} else {
				out = bank.FormatMinor(t.Amount)
			}
			w.Write([]string{t.BookedAt.Format("2006-01-02"), t.Information, in, out, signed(t.Balance)})
		}
		w.Flush()
		c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		return c.Blob(http.StatusOK, "text/csv", buf.Bytes())
	}
	lines := []string{
		"Sandbox Bank plc - Statement " + st.Reference,
		fmt.Sprintf("%s (%s)   %s", acct.Nickname, acct.HolderName, st.Description),
		fmt.Sprintf("Period %s to %s", st.Start.Format("2 Jan 2006"), st.End.Format("2 Jan 2006")),
		fmt.Sprintf("Opening balance %s %s   Money in %s   Money out %s   Closing balance %s %s",
			signed(st.Opening), st.Currency, bank.FormatMinor(st.Credits), bank.FormatMinor(st.Debits), signed(st.Closing), st.Currency),
		"",
	}
	for _, t := range items {
		lines = append(lines, fmt.Sprintf("%s  %-42.42s %12s %12s", t.BookedAt.Format("02 Jan"), t.Information, signed(t.Amount), signed(t.Balance)))
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`.pdf"`)
	return c.Blob(http.StatusOK, "application/pdf", pdf(lines))
}

func signed(v int64) string {
	if v < 0 {
		return "-" + bank.FormatMinor(v)
	}
	return bank.FormatMinor(v)
}

// pdf writes lines of text as a minimal, valid PDF 1.4 (Courier, A4, 60
// lines a page).
func pdf(lines []string) []byte {
	const perPage = 60
	var pages [][]string
	for len(lines) > perPage {
		pages, lines = append(pages, lines[:perPage]), lines[perPage:]
	}
	pages = append(pages, lines)
	var b bytes.Buffer
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	b.WriteString("%PDF-1.4\n")
	n := len(pages)
	kids := make([]string, n)
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 4+2*i)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>")
	esc := strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`)
	for i, pg := range pages {
		var content strings.Builder
		content.WriteString("BT /F1 9 Tf 36 806 Td 12 TL\n")
		for _, l := range pg {
			content.WriteString("(" + esc.Replace(asciiOnly(l)) + ") Tj T*\n")
		}
		content.WriteString("ET")
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", 5+2*i))
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", content.Len(), content.String()))
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 32 || r > 126 {
			return '?'
		}
		return r
	}, s)
}
