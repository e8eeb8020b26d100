package berlin

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/api"
	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
)

// Server is the Berlin Group API over the shared server.
type Server struct {
	*httpx.Server
	contract *httpx.Contract
	rendered httpx.Rendered // transaction pages' entries as JSON, for as long as the store serves the same page
	qwacs    qwacs          // certificates of TPP-QWAC-Certificate headers the CA verified
}

// qwacs remembers the certificates parsed from TPP-QWAC-Certificate headers
// once the CA has verified them: parsing the same header and reading its
// PSD2 fields again on every request was a tenth of a read. Only the parse
// is remembered; the certificate's validity and revocation are checked on
// every request. Bounded: when full it starts again.
type qwacs struct {
	mu sync.Mutex
	m  map[string]qwac
}

type qwac struct {
	cert *x509.Certificate
	psd2 pki.PSD2
	err  error // of reading the PSD2 fields, reported once the CA has verified the certificate
}

// maxQWACs bounds the certificates remembered, and maxQWACHeader the header
// one is remembered by: a certificate can be written many ways (PEM takes
// any text after its END line), so a longer header is parsed every time
// rather than held — at most 4 MB in all.
const (
	maxQWACs      = 1024
	maxQWACHeader = 4 << 10
)

func (q *qwacs) get(header string) (qwac, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	v, ok := q.m[header]
	return v, ok
}

func (q *qwacs) put(header string, v qwac) {
	if len(header) > maxQWACHeader {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil || len(q.m) >= maxQWACs {
		q.m = make(map[string]qwac)
	}
	q.m[header] = v
}

// Base is where the API is served; its operations' paths start with /v1.
const Base = api.BasePathBG

// Mount adds the API: every operation of its contract (spec), the contract
// itself at /psd2/openapi.yaml, and its error envelope for /psd2/.
func Mount(core *httpx.Server, e *echo.Echo, spec httpx.Spec) {
	s := &Server{Server: core, contract: core.NewContract(spec, Base)}
	core.Register(Base+"/", envelope{})
	e.GET(Base+"/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", api.BerlinGroup.YAML())
	})
	s.mountAIS(e)
	s.mountPIS(e)
	s.mountSCA(e)
}

// op is one operation: the role its TPP needs (any of roles) and the rate
// limit class it is counted in.
type op struct {
	roles []string
	class gateway.Class
}

var (
	ais  = op{[]string{pki.RoleAI}, gateway.ClassConsents}
	data = op{[]string{pki.RoleAI}, gateway.ClassData}
	pis  = op{[]string{pki.RolePI}, gateway.ClassPayments}
	piis = op{[]string{pki.RoleIC}, gateway.ClassFunds}
	sbs  = op{[]string{pki.RolePI, pki.RoleAI}, gateway.ClassConsents}
)

// mount adds a contract operation: X-Request-ID, the TPP's identity and
// role, its rate limit, then validation against the contract, then h.
func (s *Server) mount(e *echo.Echo, method, path string, o op, h echo.HandlerFunc) {
	e.Add(method, s.contract.Route(path), h, requestID, httpx.AcceptJSON, s.identify(o), checkHeaders,
		httpx.ValidateRequest(s.contract.Op(method, path)))
}

// requestID echoes the request's X-Request-ID on every answer (errors
// too), or, when it has none, gives one.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setRequestID(c)
		return next(c)
	}
}

func setRequestID(c echo.Context) {
	if c.Response().Header().Get("X-Request-ID") != "" {
		return
	}
	id := c.Request().Header.Get("X-Request-ID")
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		id = uuid.NewString()
	}
	c.Response().Header().Set("X-Request-ID", id)
}

// checkHeaders checks what the contract cannot: X-Request-ID is a UUID and
// PSU-IP-Address an IP address.
func checkHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get("X-Request-ID"); id != "" {
			if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
				return bank.Errorf(bank.KindHeaderInvalid, "X-Request-ID", "X-Request-ID is a UUID (RFC 4122)")
			}
		}
		if ip := h.Get("PSU-IP-Address"); ip != "" && net.ParseIP(ip) == nil {
			return bank.Errorf(bank.KindHeaderInvalid, "PSU-IP-Address", "PSU-IP-Address is an IP address")
		}
		return next(c)
	}
}

const keyTPP = "berlin.tpp"

// tppOf is the TPP the request's certificate names.
func tppOf(c echo.Context) pki.PSD2 {
	p, _ := c.Get(keyTPP).(pki.PSD2)
	return p
}

// identify names the TPP from its QWAC — the mutual-TLS certificate, or in
// the dev profile the TPP-QWAC-Certificate header (verified as the TLS layer
// would) — and checks it holds a role the operation needs; then applies
// the TPP's rate limit.
func (s *Server) identify(o op) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, err := s.certificate(c)
			if err != nil {
				return err
			}
			c.Set(keyTPP, p)
			c.Set(httpx.KeyClient, p.OrgID)
			httpx.Authenticated(c)
			has := false
			for _, r := range o.roles {
				has = has || p.Has(r)
			}
			if !has {
				return bank.Errorf(bank.KindRoleInvalid, "", "the TPP's certificate has roles %v; this service needs %s", p.Roles,
					strings.Join(o.roles, " or ")).WithRule("role.invalid")
			}
			if err := s.LimitClient(c, o.class, p.OrgID); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// certificate reads the TPP's QWAC.
func (s *Server) certificate(c echo.Context) (pki.PSD2, error) {
	req := c.Request()
	header := req.Header.Get("TPP-QWAC-Certificate")
	var p pki.PSD2
	switch {
	case req.TLS != nil && len(req.TLS.PeerCertificates) > 0:
		// Verified by the handshake: the CA's, in date, not revoked.
		cert := req.TLS.PeerCertificates[0]
		var err error
		if p, err = pki.PSD2Of(cert); err != nil {
			return p, bank.Errorf(bank.KindCertificateInvalid, "", "the TLS client certificate is %v", err).WithRule("certificate.invalid")
		}
		return p, nil
	case header != "" && oauth.Strict(s.Cfg.Profile):
		return p, bank.Errorf(bank.KindCertificateMissing, "TPP-QWAC-Certificate",
			"the %s profile identifies the TPP by its QWAC over mutual TLS; the TPP-QWAC-Certificate header is the dev profile's", s.Cfg.Profile).WithRule("certificate.missing")
	case header != "":
		q, known := s.qwacs.get(header)
		if !known {
			cert, err := pki.ParseHeaderCert(header)
			if err != nil {
				return p, bank.Errorf(bank.KindCertificateInvalid, "TPP-QWAC-Certificate", "TPP-QWAC-Certificate: %v (base64 DER, or PEM without line breaks)", err).WithRule("certificate.invalid")
			}
			q.cert = cert
			q.psd2, q.err = pki.PSD2Of(cert)
		}
		if err := s.Deps.CA.VerifyTPP(req.Context(), q.cert, s.Clock.Wall()); err != nil {
			return p, bank.Errorf(bank.KindCertificateInvalid, "TPP-QWAC-Certificate", "the certificate cannot be used: %v", err).WithRule("certificate.invalid")
		}
		if !known {
			s.qwacs.put(header, q)
		}
		if q.err != nil {
			return p, bank.Errorf(bank.KindCertificateInvalid, "TPP-QWAC-Certificate", "the certificate is %v", q.err).WithRule("certificate.invalid")
		}
		return q.psd2, nil
	}
	hint := "present the TPP's QWAC over mutual TLS"
	if !oauth.Strict(s.Cfg.Profile) {
		hint += ", or in the TPP-QWAC-Certificate header (dev profile)"
	}
	return p, bank.Errorf(bank.KindCertificateMissing, "", "no TPP certificate: %s; POST /sandbox/certs with \"roles\" issues one", hint).WithRule("certificate.missing")
}

// url is an absolute link to a path of the API.
func (s *Server) url(path string) string { return s.Cfg.Issuer + Base + path }

// link is an href entry of _links.
type link struct {
	Href string `json:"href"`
}

type links map[string]link

func (l links) add(name, href string) links {
	l[name] = link{href}
	return l
}

// readBody reads the request body (validation already buffered it).
func readBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, err
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

// bind decodes a body the contract already validated.
func bind(c echo.Context, v any) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return bank.Errorf(bank.KindMalformed, "", "the body is not valid JSON")
	}
	return nil
}

// boolHeader reads a boolean header (nil when absent).
func boolHeader(c echo.Context, name string) *bool {
	v := c.Request().Header.Get(name)
	if v == "" {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil
	}
	return &b
}

// present reports whether the PSU takes part in the call (PSU-IP-Address).
func present(c echo.Context) bool { return c.Request().Header.Get("PSU-IP-Address") != "" }

// redirectURIs reads TPP-Redirect-URI and TPP-Nok-Redirect-URI: absolute
// http(s) URLs, https in the fapi profiles.
func (s *Server) redirectURIs(c echo.Context) (ok, nok string, err error) {
	for _, h := range []string{"TPP-Redirect-URI", "TPP-Nok-Redirect-URI"} {
		v := c.Request().Header.Get(h)
		if v == "" {
			continue
		}
		u, perr := url.Parse(v)
		if perr != nil || u.Host == "" || (u.Scheme != "https" && (u.Scheme != "http" || oauth.Strict(s.Cfg.Profile))) || u.Fragment != "" {
			want := "an absolute http or https URL"
			if oauth.Strict(s.Cfg.Profile) {
				want = "an absolute https URL"
			}
			return "", "", bank.Errorf(bank.KindHeaderInvalid, h, "%s is %s without a fragment", h, want)
		}
	}
	return c.Request().Header.Get("TPP-Redirect-URI"), c.Request().Header.Get("TPP-Nok-Redirect-URI"), nil
}

// created writes a 201 with its Location and SCA approach.
func created(c echo.Context, location, approach string, body any) error {
	h := c.Response().Header()
	h.Set("Location", location)
	if approach != "" {
		h.Set("ASPSP-SCA-Approach", approach)
	}
	return c.JSON(http.StatusCreated, body)
}
