package obwire

import (
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/bank"
)

// TestReadPain001: a pain.001.001.08 file's credit transfers are read; a
// document type declaration (where entities live, internal or external)
// and an undeclared entity are refused before anything is read.
func TestReadPain001(t *testing.T) {
	t.Parallel()
	good := `<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.08"><CstmrCdtTrfInitn>
<GrpHdr><MsgId>M</MsgId><NbOfTxs>2</NbOfTxs><CtrlSum>3.50</CtrlSum></GrpHdr><PmtInf>
<CdtTrfTxInf><PmtId><InstrId>I1</InstrId><EndToEndId>E1</EndToEndId></PmtId><Amt><InstdAmt Ccy="GBP">1.25</InstdAmt></Amt>
<Cdtr><Nm>A &amp; B</Nm></Cdtr><CdtrAcct><Id><Othr><Id>20041533104477</Id></Othr></Id></CdtrAcct><RmtInf><Ustrd>note</Ustrd></RmtInf></CdtTrfTxInf>
<CdtTrfTxInf><PmtId><InstrId>I2</InstrId><EndToEndId>E2</EndToEndId></PmtId><Amt><InstdAmt Ccy="GBP">2.25</InstdAmt></Amt>
<Cdtr><Nm>C</Nm></Cdtr><CdtrAcct><Id><IBAN>GB29NWBK60161331926819</IBAN></Id></CdtrAcct><RmtInf><Strd><CdtrRefInf><Ref>R2</Ref></CdtrRefInf></Strd></RmtInf></CdtTrfTxInf>
</PmtInf></CstmrCdtTrfInitn></Document>`
	list, err := ReadPain001([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Creditor.Name != "A & B" || list[0].Creditor.SchemeName != bank.SchemeSortCode || list[0].Amount.Amount != "1.25" ||
		list[1].Creditor.SchemeName != bank.SchemeIBAN || list[1].Reference != "R2" || list[0].Unstructured != "note" {
		t.Fatalf("read %+v", list)
	}
	for name, doc := range map[string]string{
		"ExternalEntity":   `<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document><GrpHdr><MsgId>&x;</MsgId></GrpHdr></Document>`,
		"BillionLaughs":    `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Document>&lol2;</Document>`,
		"DoctypeAlone":     `<?xml version="1.0"?><!DOCTYPE Document SYSTEM "http://127.0.0.1/evil.dtd"><Document/>`,
		"UndeclaredEntity": `<?xml version="1.0"?><Document><MsgId>&nope;</MsgId></Document>`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadPain001([]byte(doc))
			if bank.KindOf(err) != bank.KindMalformed {
				t.Fatalf("%v, want body.malformed", err)
			}
			if name != "UndeclaredEntity" && !strings.Contains(err.Error(), "document type") {
				t.Errorf("refused for %v, want the document type declaration named", err)
			}
		})
	}
}
