package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
)

// DirectoryIssuer is the iss of the software statements the sandbox issues
// while it plays the Open Banking Directory.
const DirectoryIssuer = "Open Banking Sandbox Directory"

// SoftwareStatement is what the directory asserts about a TPP's software
// (UK OB Directory SSA claims, with the keys inline as software_jwks).
type SoftwareStatement struct {
	SoftwareID           string              `json:"software_id"`
	SoftwareClientName   string              `json:"software_client_name"`
	SoftwareRedirectURIs []string            `json:"software_redirect_uris"`
	SoftwareRoles        []string            `json:"software_roles"`
	SoftwareJWKS         *jose.JSONWebKeySet `json:"software_jwks"`
	OrgID                string              `json:"org_id"`
	OrgName              string              `json:"org_name"`
	jwt.RegisteredClaims
}

// IssueSoftwareStatement signs a software statement as the directory.
func (s *Server) IssueSoftwareStatement(ssa SoftwareStatement) (string, error) {
	if ssa.SoftwareID == "" {
		ssa.SoftwareID = uuid.NewString()
	}
	if ssa.OrgID == "" {
		ssa.OrgID = "0015800001041RE" + randomToken()[:3]
	}
	wall := s.Clock.Wall()
	ssa.Issuer, ssa.ID, ssa.IssuedAt = DirectoryIssuer, uuid.NewString(), jwt.NewNumericDate(wall)
	return s.Keys.Sign(ssa, "JWT")
}

// A signed registration request is a one-off message, not a credential:
// it must say when it was made (iat, not in the future beyond the leeway)
// and expire at most MaxRegistrationRequestLifetime later (UK OB DCR 3.2
// requires iat and exp; the bound is the sandbox's, as for request objects).
const (
	MaxRegistrationRequestLifetime = time.Hour
	registrationLeeway             = 10 * time.Second
)

// registrationClaims are the claims of a signed registration request (UK
// OB DCR 3.2): client metadata plus iss, aud and the software statement.
type registrationClaims struct {
	Metadata
	jwt.RegisteredClaims
}

// RegisterJWT registers a client from a signed registration request (the
// fapi profile's form, and accepted in dev too): the software statement must
// be signed by the directory; the request by a key of the statement's
// software_jwks, with iss the software_id and aud the issuer; the redirect
// URIs must be among the statement's.
func (s *Server) RegisterJWT(ctx context.Context, raw string) (*Registration, error) {
	m, err := s.verifyRegistrationJWT(ctx, raw)
	if err != nil {
		return nil, err
	}
	return s.Register(ctx, *m)
}

// UpdateRegistrationJWT replaces a client's metadata from a signed request
// with a software statement for the same software (RFC 7592 in the fapi
// profile).
func (s *Server) UpdateRegistrationJWT(ctx context.Context, c *Client, raw string) (*Registration, error) {
	m, err := s.verifyRegistrationJWT(ctx, raw)
	if err != nil {
		return nil, err
	}
	if c.SoftwareID != "" && m.SoftwareID != c.SoftwareID {
		return nil, errSoftwareStatement("the software statement is for other software than this client's")
	}
	c.SoftwareID, c.OrgID, c.SoftwareRoles, c.SoftwareStatement = m.SoftwareID, m.OrgID, m.SoftwareRoles, m.SoftwareStatement
	return s.update(ctx, c, *m)
}

// verifyRegistrationJWT checks a signed registration request and returns
// the metadata it registers: the keys are the software statement's, and
// software id, organisation and roles come from the statement only.
func (s *Server) verifyRegistrationJWT(ctx context.Context, raw string) (*Metadata, error) {
	var unverified registrationClaims
	if err := ParseUnverified(raw, &unverified); err != nil {
		return nil, errInvalidRequest("the registration request is not a JWT: %v", err)
	}
	ssa, err := s.verifySSA(unverified.SoftwareStatement)
	if err != nil {
		return nil, err
	}
	var rc registrationClaims
	err = parseJWT(raw, &rc, func(t *jwt.Token) (any, error) {
		return s.keyFor(ctx, &Client{Metadata: Metadata{JWKS: ssa.SoftwareJWKS}}, t)
	}, jwt.WithValidMethods([]string{"PS256", "ES256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.Clock.Wall),
		jwt.WithLeeway(registrationLeeway), jwt.WithAudience(s.Issuer))
	if err != nil {
		return nil, errInvalidRequest("the registration request's signature or claims are invalid: %v", err)
	}
	switch {
	case rc.IssuedAt == nil:
		return nil, errInvalidRequest("the registration request needs an iat")
	case rc.ExpiresAt.Time.Sub(rc.IssuedAt.Time) > MaxRegistrationRequestLifetime:
		return nil, errInvalidRequest("the registration request lives too long: exp may be at most %s after iat", MaxRegistrationRequestLifetime)
	}
	if rc.Issuer != ssa.SoftwareID {
		return nil, errInvalidRequest("the registration request's iss must be the software_id")
	}
	if rc.ID == "" {
		return nil, errInvalidRequest("the registration request needs a jti")
	}
	if err := s.Store.UseJTI(ctx, "registration:"+ssa.SoftwareID, rc.ID, rc.ExpiresAt.Time.Add(time.Minute), s.Clock.Wall()); err != nil {
		if errors.Is(err, bank.ErrConflict) {
			return nil, errInvalidRequest("the registration request's jti was already used")
		}
		return nil, err
	}
	m := rc.Metadata
	if len(m.RedirectURIs) == 0 {
		m.RedirectURIs = ssa.SoftwareRedirectURIs
	}
	for _, u := range m.RedirectURIs {
		if !slices.Contains(ssa.SoftwareRedirectURIs, u) {
			return nil, errRedirectURI("redirect_uri %q is not in the software statement", u)
		}
	}
	// The client's keys are the ones the directory vouched for.
	m.JWKS, m.JWKSURI = ssa.SoftwareJWKS, ""
	m.SoftwareID, m.OrgID, m.SoftwareRoles, m.SoftwareStatement = ssa.SoftwareID, ssa.OrgID, ssa.SoftwareRoles, unverified.SoftwareStatement
	if m.ClientName == "" {
		m.ClientName = ssa.SoftwareClientName
	}
	return &m, nil
}

// verifySSA checks a software statement is the directory's.
func (s *Server) verifySSA(raw string) (*SoftwareStatement, error) {
	if raw == "" {
		return nil, errSoftwareStatement("software_statement is required")
	}
	var ssa SoftwareStatement
	err := parseJWT(raw, &ssa, s.Keys.keyfunc, jwt.WithValidMethods([]string{"PS256"}),
		jwt.WithIssuer(DirectoryIssuer), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.Clock.Wall), jwt.WithLeeway(10*time.Second))
	if err != nil {
		return nil, oerr(400, "unapproved_software_statement", "the software statement is not the directory's: %v", err)
	}
	if ssa.SoftwareID == "" || ssa.SoftwareJWKS == nil || len(ssa.SoftwareJWKS.Keys) == 0 {
		return nil, errSoftwareStatement("the software statement has no software_id or software_jwks")
	}
	return &ssa, nil
}

// RegisterJSON registers from JSON metadata: the dev profile's form. In the
// fapi profile registration needs a signed request with a software
// statement (RegisterJWT).
func (s *Server) RegisterJSON(ctx context.Context, body []byte) (*Registration, error) {
	if !s.Dev() {
		return nil, errInvalidRequest("the fapi profile takes a signed registration request (Content-Type: application/jwt) with a software statement")
	}
	var m Metadata
	// Unknown metadata is ignored (RFC 7591 §2).
	dec := json.NewDecoder(bytesReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, errMetadata("the client metadata is not valid JSON: %v", err)
	}
	if m.ClientID != "" {
		return nil, errMetadata("client_id is assigned by the server")
	}
	// Only a verified software statement speaks for the software.
	m.SoftwareID, m.OrgID, m.SoftwareRoles = "", "", nil
	if m.SoftwareStatement != "" {
		ssa, err := s.verifySSA(m.SoftwareStatement)
		if err != nil {
			return nil, err
		}
		m.SoftwareID, m.OrgID, m.SoftwareRoles = ssa.SoftwareID, ssa.OrgID, ssa.SoftwareRoles
		if m.JWKS == nil && m.JWKSURI == "" {
			m.JWKS = ssa.SoftwareJWKS
		}
	}
	return s.Register(ctx, m)
}
