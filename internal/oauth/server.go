package oauth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/egress"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/store"
)

// Profiles: dev relaxes the rules and says so; fapi is FAPI 1.0 Advanced
// (Final) as UK Open Banking profiles it; fapi2 is the FAPI 2.0 Security
// Profile (Final).
const (
	ProfileDev   = "dev"
	ProfileFAPI  = "fapi"
	ProfileFAPI2 = "fapi2"
)

// Strict reports whether a profile is one of the FAPI ones, which allow
// none of dev's relaxations.
func Strict(profile string) bool { return profile == ProfileFAPI || profile == ProfileFAPI2 }

// Scopes of the UK OB APIs.
const (
	ScopeAccounts           = "accounts"
	ScopePayments           = "payments"
	ScopeFundsConfirmations = "fundsconfirmations"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantCIBA              = "urn:openid:params:grant-type:ciba" // OpenID CIBA Core 1.0 §10.1
)

// Server is the authorization server.
type Server struct {
	Store      *store.Store
	Clock      *clock.Clock
	Keys       *Keys
	Log        *slog.Logger
	Issuer     string // the issuer identifier: the sandbox's public base URL
	Profile    string // ProfileDev | ProfileFAPI | ProfileFAPI2
	AccessTTL  time.Duration
	RefreshTTL time.Duration // 0: refresh tokens do not expire
	CodeTTL    time.Duration
	// Seeded is a PSU's test credential from the fixtures (seed.Credentials);
	// the bank keeps no copy of it. nil: PSUs have only stored hashes.
	Seeded func(username string) (string, bool)
	// TLSClientAuth is on when the server terminates mutual TLS itself.
	TLSClientAuth bool
	// JWKSPolicy says which addresses a client's jwks_uri may reach:
	// AllowPrivate (--allow-private-jwks) lets it name loopback and private
	// ones. JWKSRoots verify the servers (nil: the system's roots).
	JWKSPolicy egress.Policy
	JWKSRoots  *x509.CertPool
	// AuthFailures limits failed client authentications (nil: no limit).
	AuthFailures *gateway.AuthFailures
	// Notify calls clients' CIBA notification endpoints (ping mode): the
	// guarded client of package egress (nil: one allowing private
	// addresses, with the system's roots).
	Notify *http.Client

	jwksMu   sync.Mutex
	jwks     *jwksCache
	verified verifiedTokens // access tokens already verified

	nonceMu  sync.Mutex
	nonceKey []byte // the MAC key of DPoP nonces, from the settings table
}

// Defaults for the lifetimes.
const (
	DefaultAccessTTL  = time.Hour
	DefaultRefreshTTL = 90 * 24 * time.Hour
	DefaultCodeTTL    = 60 * time.Second // SPEC §4.2: codes live at most 60 s
)

// Endpoint paths, relative to the issuer.
const (
	PathAuthorize     = "/as/authorize"
	PathToken         = "/as/token"
	PathPAR           = "/as/par"
	PathRegister      = "/as/register"
	PathRevoke        = "/as/revoke"
	PathIntrospect    = "/as/introspect"
	PathUserinfo      = "/as/userinfo"
	PathJWKS          = "/as/jwks"
	PathDiscovery     = "/.well-known/openid-configuration"
	PathAuthorizeDone = "/as/authorize/done"
	PathBackchannel   = "/as/bc-authorize" // CIBA backchannel authentication endpoint
)

// Dev reports whether the dev profile's relaxations apply.
func (s *Server) Dev() bool { return !Strict(s.Profile) }

// FAPI1 reports whether the server runs FAPI 1.0 Advanced (the fapi profile).
func (s *Server) FAPI1() bool { return s.Profile == ProfileFAPI }

// FAPI2 reports whether the server runs the FAPI 2.0 Security Profile.
func (s *Server) FAPI2() bool { return s.Profile == ProfileFAPI2 }

// randomToken is 32 random bytes, base64url: codes, refresh tokens, secrets.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hash is how secrets are kept: hex sha256.
func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
