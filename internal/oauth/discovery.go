package oauth

// Discovery is the OpenID Provider metadata (OIDC Discovery 1.0, RFC 8414),
// listing only what the server really supports in its profile.
type Discovery struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	RequestObjectSigningAlgValuesSupported     []string `json:"request_object_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	RequireRequestURIRegistration              bool     `json:"require_request_uri_registration"`
	RequirePushedAuthorizationRequests         bool     `json:"require_pushed_authorization_requests"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ACRValuesSupported                         []string `json:"acr_values_supported"`
	TLSClientCertificateBoundAccessTokens      bool     `json:"tls_client_certificate_bound_access_tokens"`
	// JARM (signed authorization responses).
	AuthorizationSigningAlgValuesSupported []string `json:"authorization_signing_alg_values_supported,omitempty"`
	// DPoP (RFC 9449 §5.1).
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// Decoupled authentication (OpenID CIBA Core 1.0 §4).
	BackchannelAuthenticationEndpoint                         string   `json:"backchannel_authentication_endpoint"`
	BackchannelTokenDeliveryModesSupported                    []string `json:"backchannel_token_delivery_modes_supported"`
	BackchannelAuthenticationRequestSigningAlgValuesSupported []string `json:"backchannel_authentication_request_signing_alg_values_supported"`
	BackchannelUserCodeParameterSupported                     bool     `json:"backchannel_user_code_parameter_supported"`
}

// Discovery describes the server.
func (s *Server) Discovery() Discovery {
	auth := []string{AuthPrivateKeyJWT}
	objAlgs := []string{"PS256", "ES256"}
	if s.Dev() {
		auth = append(auth, AuthClientSecretBasic, AuthClientSecretPost)
		objAlgs = append(objAlgs, "HS256")
	}
	if s.TLSClientAuth {
		auth = append(auth, AuthTLSClient)
	}
	responseTypes := []string{ResponseCodeIDToken, ResponseCode}
	// What checkParams takes: fapi needs JARM with code and never puts an
	// ID token in the query; fapi2 answers code in the query only.
	modes := []string{"query", "fragment", "jwt", "query.jwt", "fragment.jwt"}
	jarm, dpop := []string{"PS256"}, DPoPAlgs
	switch {
	case s.FAPI1():
		modes, dpop = modes[1:], nil
	case s.FAPI2():
		responseTypes, modes, jarm = []string{ResponseCode}, []string{"query"}, nil
	}
	return Discovery{
		Issuer:                                     s.Issuer,
		AuthorizationEndpoint:                      s.Issuer + PathAuthorize,
		TokenEndpoint:                              s.Issuer + PathToken,
		PushedAuthorizationRequestEndpoint:         s.Issuer + PathPAR,
		RegistrationEndpoint:                       s.Issuer + PathRegister,
		RevocationEndpoint:                         s.Issuer + PathRevoke,
		IntrospectionEndpoint:                      s.Issuer + PathIntrospect,
		UserinfoEndpoint:                           s.Issuer + PathUserinfo,
		JWKSURI:                                    s.Issuer + PathJWKS,
		ScopesSupported:                            allScopes,
		ResponseTypesSupported:                     responseTypes,
		ResponseModesSupported:                     modes,
		GrantTypesSupported:                        []string{GrantAuthorizationCode, GrantClientCredentials, GrantRefreshToken, GrantCIBA},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           []string{"PS256"},
		RequestObjectSigningAlgValuesSupported:     objAlgs,
		TokenEndpointAuthMethodsSupported:          auth,
		TokenEndpointAuthSigningAlgValuesSupported: []string{"PS256", "ES256"},
		RevocationEndpointAuthMethodsSupported:     auth,
		IntrospectionEndpointAuthMethodsSupported:  auth,
		CodeChallengeMethodsSupported:              []string{"S256"},
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "openbanking_intent_id",
			"c_hash", "s_hash", "at_hash", "http://openbanking.org.uk/refresh_token_expires_at"},
		ClaimsParameterSupported:                                  true,
		RequestParameterSupported:                                 true,
		RequestURIParameterSupported:                              true,
		RequireRequestURIRegistration:                             false,
		RequirePushedAuthorizationRequests:                        s.FAPI2(),
		AuthorizationSigningAlgValuesSupported:                    jarm,
		DPoPSigningAlgValuesSupported:                             dpop,
		BackchannelAuthenticationEndpoint:                         s.Issuer + PathBackchannel,
		BackchannelTokenDeliveryModesSupported:                    []string{CIBAPoll, CIBAPing},
		BackchannelAuthenticationRequestSigningAlgValuesSupported: objAlgs,
		AuthorizationResponseIssParameterSupported:                true,
		ACRValuesSupported:                                        []string{"urn:openbanking:psd2:sca", "urn:openbanking:psd2:ca"},
		TLSClientCertificateBoundAccessTokens:                     s.TLSClientAuth,
	}
}
