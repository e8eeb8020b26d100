package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// A line of a payment file: an amount in GBP to a sort code and number.
type fileLine struct{ amount, sortCode, number, name, ref string }

// jsonPaymentFile is the standard's JSON payment file in a version's shape.
func jsonPaymentFile(version string, lines []fileLine) []byte {
	var list []map[string]any
	for i, l := range lines {
		in := map[string]any{"InstructionIdentification": fmt.Sprintf("I-%04d", i+1), "EndToEndIdentification": fmt.Sprintf("E-%04d", i+1),
			"InstructedAmount": map[string]any{"Amount": l.amount, "Currency": "GBP"},
			"CreditorAccount":  map[string]any{"SchemeName": bank.SchemeSortCode, "Identification": l.sortCode + l.number, "Name": l.name}}
		if version == "4.0" {
			in["RemittanceInformation"] = map[string]any{"Structured": []any{map[string]any{"CreditorReferenceInformation": map[string]any{"Reference": l.ref}}}}
		} else {
			in["RemittanceInformation"] = map[string]any{"Reference": l.ref}
		}
		list = append(list, in)
	}
	raw, _ := json.Marshal(map[string]any{"Data": map[string]any{"DomesticPayments": list}})
	return raw
}

// painFile is a pain.001.001.08 file of the lines.
func painFile(lines []fileLine, total string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.08"><CstmrCdtTrfInitn>
<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-12-05T10:00:00</CreDtTm><NbOfTxs>%d</NbOfTxs><CtrlSum>%s</CtrlSum><InitgPty><Nm>Alice Carter</Nm></InitgPty></GrpHdr>
<PmtInf><PmtInfId>PMT-1</PmtInfId><PmtMtd>TRF</PmtMtd><ReqdExctnDt><Dt>2026-12-05</Dt></ReqdExctnDt><Dbtr><Nm>Alice Carter</Nm></Dbtr>
<DbtrAcct><Id><Othr><Id>09012841726350</Id></Othr></Id></DbtrAcct><DbtrAgt><FinInstnId><BICFI>SBOXGB2L</BICFI></FinInstnId></DbtrAgt>
`, len(lines), total)
	for i, l := range lines {
		fmt.Fprintf(&b, `<CdtTrfTxInf><PmtId><InstrId>I-%04d</InstrId><EndToEndId>E-%04d</EndToEndId></PmtId><Amt><InstdAmt Ccy="GBP">%s</InstdAmt></Amt>
<Cdtr><Nm>%s</Nm></Cdtr><CdtrAcct><Id><Othr><Id>%s%s</Id><SchmeNm><Prtry>UK.OBIE.SortCodeAccountNumber</Prtry></SchmeNm></Othr></Id></CdtrAcct>
<RmtInf><Strd><CdtrRefInf><Ref>%s</Ref></CdtrRefInf></Strd></RmtInf></CdtTrfTxInf>
`, i+1, i+1, l.amount, l.name, l.sortCode, l.number, l.ref)
	}
	b.WriteString("</PmtInf></CstmrCdtTrfInitn></Document>\n")
	return []byte(b.String())
}

// fileConsent stages a file payment's metadata and returns the ConsentId
// and the Initiation sent (the order repeats it).
func fileConsent(t *testing.T, c *tpp.Client, cc, fileType, hash string, n int, sum string) (string, map[string]any) {
	t.Helper()
	in := map[string]any{"FileType": fileType, "FileHash": hash, "FileReference": "PAYROLL", "NumberOfTransactions": fmt.Sprint(n),
		"ControlSum": json.Number(sum)}
	st, b, _, err := c.SignedPost(context.Background(), c.API()+"/pisp/file-payment-consents", cc, uuid.NewString(),
		map[string]any{"Data": map[string]any{"Initiation": in}}) // a file payment has no Risk
	if err != nil || st != 201 {
		t.Fatalf("file payment consent: %d %s %v", st, b, err)
	}
	var out struct {
		Data struct{ ConsentId, Status string }
	}
	json.Unmarshal(b, &out)
	if want := map[string]string{"3.1": "AwaitingUpload", "4.0": "AWUP"}[c.Version]; out.Data.Status != want && !(c.Version == "" && out.Data.Status == "AwaitingUpload") {
		t.Errorf("a new file consent is %s, want %s", out.Data.Status, want)
	}
	return out.Data.ConsentId, in
}

// upload sends a file as the request body, signed, with its media type.
func upload(t *testing.T, c *tpp.Client, cc, consent, media string, file []byte) (int, []byte) {
	t.Helper()
	sig, err := c.Signature(file)
	if err != nil {
		t.Fatal(err)
	}
	st, b, _, err := c.Send(context.Background(), "POST", c.API()+"/pisp/file-payment-consents/"+consent+"/file", media, cc, file,
		map[string]string{"x-jws-signature": sig, "x-idempotency-key": uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	return st, b
}

// fileOrder submits the file payment of an authorised consent.
func fileOrder(t *testing.T, c *tpp.Client, tok, consent string, in map[string]any, key string) map[string]any {
	t.Helper()
	st, b, _, err := c.SignedPost(context.Background(), c.API()+"/pisp/file-payments", tok, key,
		map[string]any{"Data": map[string]any{"ConsentId": consent, "Initiation": in}})
	if err != nil || st != 201 {
		t.Fatalf("file payment: %d %.600s %v", st, b, err)
	}
	var out struct{ Data map[string]any }
	json.Unmarshal(b, &out)
	return out.Data
}

// TestFilePayment: a 1,000-instruction payroll file, as the standard's JSON
// file and as pain.001 XML, through v3.1.11 and v4.0: the metadata, the
// upload (hash, count and control sum checked), the download as sent, the
// PSU's approval, the order; each instruction is its own ledger entry,
// made exactly once (a replayed order and a clock jump make no other), a
// creditor here is credited, and the report file lists every instruction.
func TestFilePayment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version, format string
		n               int
	}{{"3.1", "json", 1000}, {"4.0", "pain", 1000}, {"3.1", "pain", 3}, {"4.0", "json", 3}} {
		t.Run("V"+tc.version+"-"+tc.format, func(t *testing.T) {
			t.Parallel()
			s := start(t, realIssuer())
			ctx := context.Background()
			c := s.versionTPP(tc.version)
			cc, _ := c.ClientCredentials(ctx, "payments")
			alice, carol := s.account("alice", "GBP", "CurrentAccount"), s.accountsOf("carol")[1]
			lines := make([]fileLine, tc.n)
			for i := range lines {
				lines[i] = fileLine{amount: "0.25", sortCode: "200415", number: "33104477", name: "Greenfield Lettings", ref: fmt.Sprintf("FILE-%04d", i+1)}
			}
			lines[0] = fileLine{amount: "12.34", sortCode: "090128", number: "70011460", name: "Carol Mensah", ref: "FILE-0001"}
			total := bank.FormatMinor(1234 + int64(tc.n-1)*25)
			fileType, media, file := map[string]string{"3.1": bank.FileTypeJSON31, "4.0": bank.FileTypeJSON40}[tc.version], "application/json", jsonPaymentFile(tc.version, lines)
			if tc.format == "pain" {
				fileType, media, file = bank.FileTypePain001, "application/xml", painFile(lines, total)
			}
			watch, _, err := s.newTPP("private_key_jwt").AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
			if err != nil {
				t.Fatal(err)
			}
			carolTok, _, err := s.newTPP("private_key_jwt").AISJourney(ctx, "carol", "carol123", tpp.AllPermissions, nil)
			if err != nil {
				t.Fatal(err)
			}
			avail0, carol0 := s.balanceOf(watch.AccessToken, alice.ID, "InterimAvailable"), s.balanceOf(carolTok.AccessToken, carol, "InterimBooked")

			id, in := fileConsent(t, c, cc, fileType, bank.FileHash(file), tc.n, total)
			if st, b := upload(t, c, cc, id, media, file); st != 200 || len(b) != 0 {
				t.Fatalf("upload: %d %s, want 200 with no body", st, b)
			}
			r := s.get(c.API()+"/pisp/file-payment-consents/"+id+"/file", cc)
			expect(t, r, 200)
			if string(r.Body) != string(file) {
				t.Error("the file downloaded is not the file uploaded")
			}
			var cn struct{ Data map[string]any }
			s.get(c.API()+"/pisp/file-payment-consents/"+id, cc).JSON(t, &cn)
			if want := map[string]string{"3.1": "AwaitingAuthorisation", "4.0": "AWAU"}[tc.version]; cn.Data["Status"] != want {
				t.Errorf("after the upload the consent is %v, want %s", cn.Data["Status"], want)
			}
			toks, err := c.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", []string{alice.ID})
			if err != nil {
				t.Fatal(err)
			}
			key := uuid.NewString()
			p := fileOrder(t, c, toks.AccessToken, id, in, key)
			pid := p["FilePaymentId"].(string)
			if want := map[string]string{"3.1": "InitiationCompleted", "4.0": "INCO"}[tc.version]; p["Status"] != want {
				t.Errorf("file payment %v, want %s", p["Status"], want)
			}
			if again := fileOrder(t, c, toks.AccessToken, id, in, key); again["FilePaymentId"] != pid {
				t.Errorf("a replayed order made %v, want %s", again["FilePaymentId"], pid)
			}
			s.advance("1h")
			watchTok, _, _ := s.newTPP("private_key_jwt").AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
			carolTok, _, _ = s.newTPP("private_key_jwt").AISJourney(ctx, "carol", "carol123", tpp.AllPermissions, nil)
			cc, _ = c.ClientCredentials(ctx, "payments")
			n := 0
			for _, tx := range items(t, s.get(ais+"/accounts/"+alice.ID+"/transactions?page-size=1000&fromBookingDateTime=2026-01-01", watchTok.AccessToken), "Transaction") {
				if strings.Contains(fmt.Sprint(tx["TransactionInformation"]), "FILE-") {
					n++
				}
			}
			if n != tc.n {
				t.Errorf("%d ledger entries of the file, want %d (one per instruction)", n, tc.n)
			}
			want := int64(1234 + (tc.n-1)*25)
			if got := s.balanceOf(watchTok.AccessToken, alice.ID, "InterimAvailable"); got != avail0-want {
				t.Errorf("alice's available %d, want %d", got, avail0-want)
			}
			if got := s.balanceOf(carolTok.AccessToken, carol, "InterimBooked"); got != carol0+1234 {
				t.Errorf("carol's booked %d, want %d", got, carol0+1234)
			}
			var rep struct {
				Data struct {
					Instructions []struct {
						Number                int
						Status, TransactionId string
					}
				}
			}
			r = s.get(c.API()+"/pisp/file-payments/"+pid+"/report-file", cc)
			expect(t, r, 200)
			r.JSON(t, &rep)
			if len(rep.Data.Instructions) != tc.n || rep.Data.Instructions[tc.n-1].Number != tc.n || rep.Data.Instructions[0].TransactionId == "" {
				t.Errorf("report file: %d instructions (%.300s)", len(rep.Data.Instructions), r.Body)
			}
			expect(t, s.get(c.API()+"/pisp/file-payments/"+pid, cc), 200)
			expect(t, s.get(c.API()+"/pisp/file-payments/"+pid+"/payment-details", cc), 200)
			if problems, _ := s.app.Store.CheckLedgers(ctx, 5); len(problems) > 0 {
				t.Errorf("ledger: %v", problems)
			}
		})
	}
}

// TestFilePaymentRefusals: a file that does not match its metadata — its
// hash, its number of instructions, its control sum — or holds a line the
// bank cannot pay, or is hostile XML (an internal entity bomb, an external
// entity), is refused and rejects the consent, as the standard says;
// nothing is kept and nothing moves. A file whose one instruction the
// debtor cannot afford executes the others; the report says which failed.
func TestFilePaymentRefusals(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"3.1", "4.0"} {
		t.Run("V"+version, func(t *testing.T) {
			t.Parallel()
			s := start(t, realIssuer())
			ctx := context.Background()
			c := s.versionTPP(version)
			cc, _ := c.ClientCredentials(ctx, "payments")
			jsonType := map[string]string{"3.1": bank.FileTypeJSON31, "4.0": bank.FileTypeJSON40}[version]
			lines := []fileLine{{"10.00", "200415", "33104477", "Greenfield Lettings", "R1"}, {"5.00", "200415", "33104477", "Greenfield Lettings", "R2"}}
			good := jsonPaymentFile(version, lines)
			code := func(v31 string) string {
				if version == "4.0" {
					return map[string]string{"UK.OBIE.Resource.ConsentMismatch": "U008", "UK.OBIE.Resource.InvalidFormat": "U010",
						"UK.OBIE.Unsupported.Currency": "U023"}[v31]
				}
				return v31
			}
			bad := jsonPaymentFile(version, lines)
			bad = []byte(strings.Replace(string(bad), `"Currency":"GBP"`, `"Currency":"EUR"`, 1))
			hostile := []byte(`<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.08"><CstmrCdtTrfInitn><GrpHdr><MsgId>&c;&xxe;</MsgId></GrpHdr></CstmrCdtTrfInitn></Document>`)
			undeclared := []byte(`<?xml version="1.0"?><Document><CstmrCdtTrfInitn><GrpHdr><MsgId>&xxe;</MsgId></GrpHdr></CstmrCdtTrfInitn></Document>`)
			for _, tc := range []struct {
				name, fileType, media, hash, sum, code string
				n                                      int
				file                                   []byte
			}{
				{"WrongHash", jsonType, "application/json", bank.FileHash([]byte("another file")), "15.00", "UK.OBIE.Resource.ConsentMismatch", 2, good},
				{"WrongCount", jsonType, "application/json", bank.FileHash(good), "15.00", "UK.OBIE.Resource.ConsentMismatch", 3, good},
				{"WrongControlSum", jsonType, "application/json", bank.FileHash(good), "15.01", "UK.OBIE.Resource.ConsentMismatch", 2, good},
				{"BadLine", jsonType, "application/json", bank.FileHash(bad), "15.00", "UK.OBIE.Unsupported.Currency", 2, bad},
				{"EntityExpansionAndExternalEntity", bank.FileTypePain001, "application/xml", bank.FileHash(hostile), "15.00", "UK.OBIE.Resource.InvalidFormat", 2, hostile},
				{"UndeclaredEntity", bank.FileTypePain001, "text/xml", bank.FileHash(undeclared), "15.00", "UK.OBIE.Resource.InvalidFormat", 2, undeclared},
			} {
				t.Run(tc.name, func(t *testing.T) {
					id, _ := fileConsent(t, c, cc, tc.fileType, tc.hash, tc.n, tc.sum)
					st, b := upload(t, c, cc, id, tc.media, tc.file)
					if st != 400 {
						t.Fatalf("upload: %d %s, want 400", st, b)
					}
					if got, _ := errorOf(t, version, &response{Status: st, Body: b}); got != code(tc.code) {
						t.Errorf("code %s, want %s (%s)", got, code(tc.code), b)
					}
					var cn struct{ Data struct{ Status string } }
					s.get(c.API()+"/pisp/file-payment-consents/"+id, cc).JSON(t, &cn)
					if want := map[string]string{"3.1": "Rejected", "4.0": "RJCT"}[version]; cn.Data.Status != want {
						t.Errorf("consent %s after a refused file, want %s", cn.Data.Status, want)
					}
					if r := s.get(c.API()+"/pisp/file-payment-consents/"+id+"/file", cc); r.Status != 400 {
						t.Errorf("a refused file was kept: GET .../file %d", r.Status)
					}
				})
			}

			t.Run("OneInstructionUnaffordable", func(t *testing.T) {
				bob := s.account("bob", "GBP", "CurrentAccount")
				lines := []fileLine{{"10.00", "200415", "33104477", "Greenfield Lettings", "OK"}, {"90000.00", "200415", "33104477", "Greenfield Lettings", "TOO MUCH"}}
				file := jsonPaymentFile(version, lines)
				id, in := fileConsent(t, c, cc, jsonType, bank.FileHash(file), 2, "90010.00")
				if st, b := upload(t, c, cc, id, "application/json", file); st != 200 {
					t.Fatalf("upload: %d %s", st, b)
				}
				toks, err := c.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "bob", "bob123", []string{bob.ID})
				if err != nil {
					t.Fatal(err)
				}
				p := fileOrder(t, c, toks.AccessToken, id, in, uuid.NewString())
				var rep struct {
					Data struct {
						Instructions []struct{ Status, StatusReason, TransactionId string }
					}
				}
				s.get(c.API()+"/pisp/file-payments/"+p["FilePaymentId"].(string)+"/report-file", cc).JSON(t, &rep)
				ok, failed := map[string]string{"3.1": "InitiationCompleted", "4.0": "INCO"}[version], map[string]string{"3.1": "InitiationFailed", "4.0": "INFA"}[version]
				if len(rep.Data.Instructions) != 2 || rep.Data.Instructions[0].Status != ok || rep.Data.Instructions[1].Status != failed ||
					rep.Data.Instructions[1].StatusReason == "" || rep.Data.Instructions[1].TransactionId != "" {
					t.Errorf("report %+v, want the first made and the second failed with a reason", rep.Data.Instructions)
				}
			})
		})
	}
}
