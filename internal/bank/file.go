package bank

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"
)

// File payments (OBWriteFileConsent3, the standard's "File Payments"): the
// TPP stages the file's metadata (FileType, FileHash, NumberOfTransactions,
// ControlSum), uploads the file against the consent, the PSU authorises it
// and the TPP orders it. The bank checks the uploaded file against the
// metadata — its SHA-256 hash, the number of instructions, their total —
// and every instruction against the rules of a domestic payment; "if the
// content of the metadata does not match the content of the file, the ASPSP
// must reject the file-payment-consent": the consent is then Rejected and
// nothing is kept. Each instruction executes as its own ledger entry; one
// the debtor cannot afford fails alone; the report file lists each
// instruction's outcome.
const (
	ConsentFilePayment = "file-payment"
	OrderFile          = "file"

	StatusAwaitingUpload = "AwaitingUpload"

	// FileTypeJSON31 and FileTypeJSON40 are the standard's JSON payment
	// files (a list of domestic Initiations, in each version's shape);
	// FileTypePain001 is ISO 20022 pain.001.001.08 XML.
	FileTypeJSON31  = "UK.OBIE.PaymentInitiation.3.1"
	FileTypeJSON40  = "UK.OBIE.PaymentInitiation.4.0"
	FileTypePain001 = "UK.OBIE.pain.001.001.08"
)

func init() {
	consentPrefix[ConsentFilePayment] = "fpc-"
	orderKinds[ConsentFilePayment] = OrderFile
	orderPrefix[OrderFile] = "fp-"
}

// FileStore is where payment files and their instructions are kept.
type FileStore interface {
	// SaveFile keeps an uploaded file and its instructions and moves the
	// consent from AwaitingUpload to AwaitingAuthorisation, once per
	// idempotency key, in one transaction.
	SaveFile(ctx context.Context, f PaymentFile, id Idem, now time.Time) error
	// RejectConsent marks a consent Rejected.
	RejectConsent(ctx context.Context, consentID string, now time.Time) error
	// File reads a consent's uploaded file (ErrNotFound before the upload).
	File(ctx context.Context, consentID string) (PaymentFile, error)
	// FileInstructions lists a consent's instructions with their outcomes.
	FileInstructions(ctx context.Context, consentID string) ([]FileInstruction, error)
}

// PaymentFile is an uploaded payment file.
type PaymentFile struct {
	ConsentID, FileType, MediaType string
	Content                        []byte
	Instructions                   []Initiation
}

// FileInstruction is one instruction of a file and what became of it.
type FileInstruction struct {
	Seq         int
	Initiation  Initiation
	Status      string // "" before execution, OrderInitiationCompleted | OrderInitiationFailed
	Reason      string
	Transaction string // TransactionId of its ledger entry
}

// FileHash is the standard's FileHash of a file: SHA-256, base64.
func FileHash(content []byte) string {
	sum := sha256.Sum256(content)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Upload is a payment file a TPP uploads against its consent.
type Upload struct {
	ClientID, ConsentID, MediaType string
	Content                        []byte
	Idem                           Idem
	// Parse reads the file's instructions for a file type, each checked
	// against the rules of a domestic payment.
	Parse func(fileType string, content []byte) ([]Initiation, error)
}

// UploadFile checks a payment file against its consent's metadata and
// keeps it; the consent then awaits the PSU's authorisation. A replay of
// the key answers as the first upload did. A file that does not match the
// metadata (hash, count, control sum) or holds an instruction the bank
// cannot make rejects the consent.
func (b *Bank) UploadFile(ctx context.Context, u Upload) error {
	now := b.now()
	if _, found, err := b.store.Replay(ctx, u.Idem, now); err != nil {
		return idemErr(err)
	} else if found {
		return nil
	}
	c, err := b.store.Consent(ctx, u.ConsentID)
	if errors.Is(err, ErrNotFound) || (err == nil && c.Kind != ConsentFilePayment) {
		return Errorf(KindNotFound, "ConsentId", "no file payment consent %s", clip(u.ConsentID, 64)).WithRule(RuleUnknownObject)
	}
	if err != nil {
		return err
	}
	if c.ClientID != u.ClientID {
		return Errorf(KindForbidden, "ConsentId", "consent %s belongs to another client", c.ID).WithRule(RuleForeignObject)
	}
	if c.Status != StatusAwaitingUpload {
		return Errorf(KindConsentStatus, "", "the consent is %s: its file was uploaded already or it was rejected", c.Status)
	}
	in := c.Initiation
	reject := func(err error) error {
		if rerr := b.store.RejectConsent(ctx, c.ID, now); rerr != nil {
			return rerr
		}
		return err
	}
	if FileHash(u.Content) != in.FileHash {
		return reject(Errorf(KindConsentMismatch, "Data.Initiation.FileHash",
			"the file's SHA-256 hash (base64) is %s, not the consent's FileHash: the consent is rejected", FileHash(u.Content)))
	}
	list, err := u.Parse(in.FileType, u.Content)
	if err != nil {
		if KindOf(err) == KindInternal {
			return err
		}
		return reject(err)
	}
	var total int64
	for _, x := range list {
		total += x.Amount
	}
	if in.Count > 0 && len(list) != in.Count {
		return reject(Errorf(KindConsentMismatch, "Data.Initiation.NumberOfTransactions",
			"the file holds %d instructions, the consent says %d: the consent is rejected", len(list), in.Count))
	}
	if in.HasControlSum && total != in.ControlSum {
		return reject(Errorf(KindConsentMismatch, "Data.Initiation.ControlSum",
			"the file's amounts add up to %s, the consent's ControlSum is %s: the consent is rejected", FormatMinor(total), FormatMinor(in.ControlSum)))
	}
	return idemErr(b.store.SaveFile(ctx, PaymentFile{ConsentID: c.ID, FileType: in.FileType, MediaType: u.MediaType,
		Content: u.Content, Instructions: list}, u.Idem, now))
}

// PaymentFileOf reads the file uploaded against a consent of the client.
func (b *Bank) PaymentFileOf(ctx context.Context, c *Consent) (PaymentFile, error) {
	f, err := b.store.File(ctx, c.ID)
	if errors.Is(err, ErrNotFound) {
		return f, Errorf(KindNotFound, "ConsentId", "no file was uploaded against consent %s", c.ID)
	}
	return f, err
}

// FileReport is a file payment's instructions with their outcomes.
func (b *Bank) FileReport(ctx context.Context, p *Payment) ([]FileInstruction, error) {
	return b.store.FileInstructions(ctx, p.ConsentID)
}
