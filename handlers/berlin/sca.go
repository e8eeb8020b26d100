package berlin

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// The authorisation sub-resources of consents, payments, payment
// cancellations and signing baskets, all alike; the SCA itself is the
// bank's (bank.StartAuthorisation, UpdateAuthorisation).

// resource is what an authorisation authorises, as its URLs name it.
type resource struct {
	kind string // bank.AuthConsent, AuthPayment, AuthCancellation, AuthBasket
	id   string
	self string // the resource's URL
	coll string // its authorisations' URL
}

func resourceOf(kind, self, id string) resource {
	coll := self + "/authorisations"
	if kind == bank.AuthCancellation {
		coll = self + "/cancellation-authorisations"
	}
	return resource{kind: kind, id: id, self: self, coll: coll}
}

type scaMethod struct {
	AuthenticationType     string `json:"authenticationType"`
	AuthenticationMethodID string `json:"authenticationMethodId"`
	Name                   string `json:"name,omitempty"`
	Explanation            string `json:"explanation,omitempty"`
}

func methodOf(m bank.ScaMethod) *scaMethod {
	return &scaMethod{AuthenticationType: m.Type, AuthenticationMethodID: m.ID, Name: m.Name, Explanation: m.Explanation}
}

type challenge struct {
	OtpMaxLength          int    `json:"otpMaxLength"`
	OtpFormat             string `json:"otpFormat"`
	AdditionalInformation string `json:"additionalInformation"`
}

// scaBody is the answers of the authorisation sub-resources: the start
// (startScaprocessResponse), the updates (update*Response) and the status.
type scaBody struct {
	ScaStatus       string      `json:"scaStatus"`
	AuthorisationID string      `json:"authorisationId,omitempty"`
	ScaMethods      []scaMethod `json:"scaMethods,omitempty"`
	ChosenScaMethod *scaMethod  `json:"chosenScaMethod,omitempty"`
	ChallengeData   *challenge  `json:"challengeData,omitempty"`
	Links           links       `json:"_links"`
	PSUMessage      string      `json:"psuMessage,omitempty"`
}

// view is an authorisation as its answers show it: the next step's link,
// the methods to choose from, the chosen one and its challenge.
func (s *Server) view(a *bank.Authorisation, r resource) scaBody {
	self := r.coll + "/" + a.ID
	b := scaBody{ScaStatus: a.Status, Links: links{}.add("scaStatus", self)}
	if m, ok := a.ChosenMethod(); ok {
		b.ChosenScaMethod = methodOf(m)
	}
	if a.Final() {
		return b
	}
	switch a.Approach {
	case bank.ApproachRedirect:
		b.Links.add("scaRedirect", s.Cfg.Issuer+"/psu/berlin/"+a.Handle)
	case bank.ApproachDecoupled:
		if a.Status == bank.ScaReceived {
			b.Links.add("updatePsuIdentification", self)
		} else {
			b.PSUMessage = "Please confirm the request in your Sandbox Bank app."
		}
	case bank.ApproachEmbedded:
		switch a.Status {
		case bank.ScaReceived, bank.ScaPSUIdentified:
			b.Links.add("updatePsuAuthentication", self)
		case bank.ScaPSUAuthenticated:
			b.Links.add("selectAuthenticationMethod", self)
			for _, m := range bank.ScaMethods {
				b.ScaMethods = append(b.ScaMethods, *methodOf(m))
			}
		case bank.ScaMethodSelected:
			b.Links.add("authoriseTransaction", self)
			b.ChallengeData = &challenge{OtpMaxLength: len(bank.TestOTP), OtpFormat: "integer",
				AdditionalInformation: "The sandbox's one-time password is " + bank.TestOTP + " for every PSU."}
			b.PSUMessage = "Enter the one-time password."
		}
	}
	return b
}

// scaStart is what a new resource's 201 says of its SCA.
type scaStart struct {
	approach, status, message string
	method                    *scaMethod
	links                     links
}

// prepareSCA checks, before a resource is made, what its implicit SCA
// start needs: well-formed redirect URIs, TPP-Redirect-URI for the
// redirect approach, a PSU-ID that is a customer of the bank.
func (s *Server) prepareSCA(c echo.Context) error {
	ok, _, err := s.redirectURIs(c)
	if err != nil {
		return err
	}
	approach := bank.ChooseApproach(boolHeader(c, "TPP-Decoupled-Preferred"), boolHeader(c, "TPP-Redirect-Preferred"))
	if explicit := boolHeader(c, "TPP-Explicit-Authorisation-Preferred"); approach == bank.ApproachRedirect && ok == "" && (explicit == nil || !*explicit) {
		return bank.Errorf(bank.KindHeaderMissing, "TPP-Redirect-URI", "the redirect approach sends the PSU back to TPP-Redirect-URI: send it (or TPP-Redirect-Preferred: false, or TPP-Decoupled-Preferred: true)")
	}
	if psu := c.Request().Header.Get("PSU-ID"); psu != "" {
		return s.Bank.KnownPSU(c.Request().Context(), psu)
	}
	return nil
}

// startSCA starts a new resource's SCA as the bank chooses: implicitly,
// unless the TPP prefers to start it (TPP-Explicit-Authorisation-Preferred),
// when the links say how.
func (s *Server) startSCA(c echo.Context, r resource) (scaStart, error) {
	approach := bank.ChooseApproach(boolHeader(c, "TPP-Decoupled-Preferred"), boolHeader(c, "TPP-Redirect-Preferred"))
	out := scaStart{approach: approach, links: links{}}
	if explicit := boolHeader(c, "TPP-Explicit-Authorisation-Preferred"); explicit != nil && *explicit {
		name := map[string]string{bank.ApproachRedirect: "startAuthorisation", bank.ApproachDecoupled: "startAuthorisationWithPsuIdentification",
			bank.ApproachEmbedded: "startAuthorisationWithPsuAuthentication"}[approach]
		out.links.add(name, r.coll)
		return out, nil
	}
	ok, nok, err := s.redirectURIs(c)
	if err != nil {
		return out, err
	}
	a, err := s.Bank.StartAuthorisation(c.Request().Context(), bank.StartSCA{ClientID: tppOf(c).OrgID, Kind: r.kind, Resource: r.id,
		Approach: approach, PSU: c.Request().Header.Get("PSU-ID"), RedirectURI: ok, NokRedirectURI: nok})
	if err != nil {
		return out, err
	}
	v := s.view(a, r)
	out.links, out.status, out.message, out.method = v.Links, v.ScaStatus, v.PSUMessage, v.ChosenScaMethod
	return out, nil
}

func (s *Server) mountSCA(e *echo.Echo) {
	sub := func(base string, o op, kind string, res func(echo.Context) (resource, error)) {
		coll := base + "/authorisations"
		if kind == bank.AuthCancellation {
			coll = base + "/cancellation-authorisations"
		}
		s.mount(e, http.MethodPost, coll, o, s.startAuthorisation(kind, res))
		s.mount(e, http.MethodGet, coll, o, s.listAuthorisations(kind, res))
		s.mount(e, http.MethodGet, coll+"/{authorisationId}", o, s.getAuthorisation(kind, res))
		s.mount(e, http.MethodPut, coll+"/{authorisationId}", o, s.updateAuthorisation(kind, res))
	}
	sub("/v1/consents/{consentId}", ais, bank.AuthConsent, func(c echo.Context) (resource, error) {
		id := c.Param("consentId")
		c.Set(httpx.KeyConsent, id)
		return resourceOf(bank.AuthConsent, s.url("/v1/consents/"+id), id), nil
	})
	for _, svc := range []string{bank.ServicePayments, bank.ServicePeriodicPayments, bank.ServiceBulkPayments} {
		for _, kind := range []string{bank.AuthPayment, bank.AuthCancellation} {
			sub("/v1/"+svc+"/{payment-product}/{paymentId}", pis, kind, func(c echo.Context) (resource, error) {
				cn, _, err := s.Bank.BGPaymentResource(c.Request().Context(), tppOf(c).OrgID, svc, c.Param("payment-product"), c.Param("paymentId"))
				if err != nil {
					return resource{}, err
				}
				c.Set(httpx.KeyConsent, cn.ID)
				return resourceOf(kind, s.url("/v1/"+svc+"/"+c.Param("payment-product")+"/"+cn.ID), cn.ID), nil
			})
		}
	}
	sub("/v1/signing-baskets/{basketId}", sbs, bank.AuthBasket, func(c echo.Context) (resource, error) {
		id := c.Param("basketId")
		return resourceOf(bank.AuthBasket, s.url("/v1/signing-baskets/"+id), id), nil
	})
}

// authorisationBody is the sandbox's body of POST and PUT on an
// authorisation (api/berlin-group-1.3.12.yaml authorisationUpdateBody).
type authorisationBody struct {
	PSUData *struct {
		Password            string `json:"password"`
		EncryptedPassword   string `json:"encryptedPassword"`
		AdditionalPassword  string `json:"additionalPassword"`
		AdditionalEncrypted string `json:"additionalEncryptedPassword"`
	} `json:"psuData"`
	AuthenticationMethodID string `json:"authenticationMethodId"`
	ScaAuthenticationData  string `json:"scaAuthenticationData"`
	ConfirmationCode       string `json:"confirmationCode"`
}

// step reads an authorisation body into the bank's SCA step, with the
// scenarios that make the PSU deny or the SCA fail.
func (s *Server) step(c echo.Context) (bank.SCAStep, error) {
	var b authorisationBody
	if err := bind(c, &b); err != nil {
		return bank.SCAStep{}, err
	}
	st := bank.SCAStep{MethodID: b.AuthenticationMethodID, OTP: b.ScaAuthenticationData, Confirmation: b.ConfirmationCode}
	if p := b.PSUData; p != nil {
		if p.Password == "" {
			return st, bank.Errorf(bank.KindFieldInvalid, "psuData", "the bank takes psuData.password (not encrypted passwords)")
		}
		st.Password = p.Password
	}
	st.Veto = func(cn *bank.Consent, psu string) bool {
		return !s.PSUDecision(c, cn, oauth.Decision{PSU: psu, Approve: true}).Approve
	}
	return st, nil
}

func (s *Server) startAuthorisation(kind string, res func(echo.Context) (resource, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := res(c)
		if err != nil {
			return err
		}
		step, err := s.step(c)
		if err != nil {
			return err
		}
		if step.Confirmation != "" {
			return bank.Errorf(bank.KindFieldUnexpected, "confirmationCode", "a confirmation code goes with PUT on an authorisation")
		}
		ok, nok, err := s.redirectURIs(c)
		if err != nil {
			return err
		}
		approach := bank.ChooseApproach(boolHeader(c, "TPP-Decoupled-Preferred"), boolHeader(c, "TPP-Redirect-Preferred"))
		psu := c.Request().Header.Get("PSU-ID")
		c.Set(httpx.KeyPSU, psu)
		a, err := s.Bank.StartAuthorisation(c.Request().Context(), bank.StartSCA{ClientID: tppOf(c).OrgID, Kind: kind, Resource: r.id,
			Approach: approach, PSU: psu, RedirectURI: ok, NokRedirectURI: nok, Step: step})
		if err != nil {
			return err
		}
		v := s.view(a, r)
		v.AuthorisationID = a.ID
		c.Response().Header().Set("ASPSP-SCA-Approach", a.Approach)
		return c.JSON(http.StatusCreated, v)
	}
}

func (s *Server) listAuthorisations(kind string, res func(echo.Context) (resource, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := res(c)
		if err != nil {
			return err
		}
		as, err := s.Bank.Authorisations(c.Request().Context(), tppOf(c).OrgID, kind, r.id)
		if err != nil {
			return err
		}
		ids := []string{}
		for _, a := range as {
			ids = append(ids, a.ID)
		}
		return c.JSON(http.StatusOK, map[string]any{"authorisationIds": ids})
	}
}

func (s *Server) getAuthorisation(kind string, res func(echo.Context) (resource, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := res(c)
		if err != nil {
			return err
		}
		a, err := s.Bank.Authorisation(c.Request().Context(), tppOf(c).OrgID, kind, r.id, c.Param("authorisationId"))
		if err != nil {
			return err
		}
		v := s.view(a, r)
		return c.JSON(http.StatusOK, scaBody{ScaStatus: v.ScaStatus, Links: v.Links, PSUMessage: v.PSUMessage})
	}
}

func (s *Server) updateAuthorisation(kind string, res func(echo.Context) (resource, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := res(c)
		if err != nil {
			return err
		}
		step, err := s.step(c)
		if err != nil {
			return err
		}
		psu := c.Request().Header.Get("PSU-ID")
		c.Set(httpx.KeyPSU, psu)
		a, err := s.Bank.UpdateAuthorisation(c.Request().Context(), bank.UpdateSCA{ClientID: tppOf(c).OrgID, Kind: kind, Resource: r.id,
			ID: c.Param("authorisationId"), PSU: psu, Step: step})
		if err != nil {
			return err
		}
		c.Response().Header().Set("ASPSP-SCA-Approach", a.Approach)
		v := s.view(a, r)
		if step.Password != "" {
			v.AuthorisationID = a.ID
		}
		return c.JSON(http.StatusOK, v)
	}
}
