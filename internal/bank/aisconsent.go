package bank

import (
	"encoding/json"
	"time"
)

// AccountAccessRequest is an account-access consent as a TPP asks for it.
// The date-times are kept as sent: the bank must not change them (AIS
// profile), so responses echo the TPP's own strings.
type AccountAccessRequest struct {
	Permissions []string `json:"Permissions"`
	Expiration  string   `json:"ExpirationDateTime,omitempty"`
	TxFrom      string   `json:"TransactionFromDateTime,omitempty"`
	TxTo        string   `json:"TransactionToDateTime,omitempty"`
}

// NewAccountAccessConsent validates a request by the AIS profile's rules and
// returns the consent it creates, AwaitingAuthorisation. The request's
// date-times must already be RFC 3339 (the contract checks the format).
func NewAccountAccessConsent(id, clientID string, r AccountAccessRequest, now time.Time) (*Consent, error) {
	perms, err := ParsePermissions(r.Permissions)
	if err != nil {
		return nil, err
	}
	c := &Consent{ID: id, Kind: ConsentAccountAccess, ClientID: clientID, Status: StatusAwaitingAuthorisation,
		CreatedAt: now, StatusAt: now, Permissions: perms}
	parse := func(path, v string) (time.Time, error) {
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return t, Errorf(KindFieldInvalidDate, path, "%s must be an ISO 8601 date-time with a timezone", path)
		}
		return t.UTC(), nil
	}
	if c.ExpiresAt, err = parse("Data.ExpirationDateTime", r.Expiration); err != nil {
		return nil, err
	}
	if c.TxFrom, err = parse("Data.TransactionFromDateTime", r.TxFrom); err != nil {
		return nil, err
	}
	if c.TxTo, err = parse("Data.TransactionToDateTime", r.TxTo); err != nil {
		return nil, err
	}
	if !c.ExpiresAt.IsZero() && !c.ExpiresAt.After(now) {
		return nil, Errorf(KindFieldInvalidDate, "Data.ExpirationDateTime", "ExpirationDateTime must be in the future")
	}
	if !c.TxFrom.IsZero() && !c.TxTo.IsZero() && c.TxTo.Before(c.TxFrom) {
		return nil, Errorf(KindFieldInvalidDate, "Data.TransactionToDateTime", "TransactionToDateTime is before TransactionFromDateTime")
	}
	if c.Request, err = json.Marshal(r); err != nil {
		return nil, err
	}
	return c, nil
}

// AccountAccess returns the request an account-access consent was made with.
func (c *Consent) AccountAccess() AccountAccessRequest {
	var r AccountAccessRequest
	_ = json.Unmarshal(c.Request, &r)
	return r
}
