package bank

// The kinds of refusal Berlin Group NextGenPSD2 names and the UK standards
// do not: the consent of a data call, the TPP's certificate and roles, the
// SCA routine, payment products and cancellation. Another standard's
// renderer maps them as it maps the others (to its nearest code).
const (
	KindConsentUnknown        Kind = 100 + iota // the consent is not this TPP's, or there is none (403)
	KindConsentInvalid                          // the consent exists but does not allow the call now (401)
	KindConsentExpired                          // the consent is past its validUntil (401)
	KindCertificateMissing                      // no TPP certificate (401)
	KindCertificateInvalid                      // a certificate that cannot identify a TPP (401)
	KindRoleInvalid                             // the TPP lacks the PSD2 role the call needs (401)
	KindCredentialsInvalid                      // the PSU's password or OTP is wrong, or the PSU is locked (401)
	KindStatusInvalid                           // the resource or authorisation is in a state that forbids the call (409)
	KindProductUnknown                          // a payment product the bank does not offer (404)
	KindCancellationInvalid                     // the payment can no longer be cancelled (405)
	KindExecutionDateInvalid                    // a requested date the bank cannot execute on (400)
	KindParameterNotSupported                   // an optional parameter the bank does not offer (400)
	KindScaMethodUnknown                        // an SCA method the PSU does not have (400)
	KindPaymentFailed                           // the bank refuses the payment itself (400)
)

func init() {
	for k, name := range map[Kind]string{
		KindConsentUnknown: "consent.unknown", KindConsentInvalid: "consent.invalid", KindConsentExpired: "consent.expired",
		KindCertificateMissing: "certificate.missing", KindCertificateInvalid: "certificate.invalid", KindRoleInvalid: "role.invalid",
		KindCredentialsInvalid: "psu.credentials_invalid", KindStatusInvalid: "status.invalid", KindProductUnknown: "product.unknown",
		KindCancellationInvalid: "cancellation.invalid", KindExecutionDateInvalid: "execution_date.invalid",
		KindParameterNotSupported: "parameter.not_supported", KindScaMethodUnknown: "sca_method.unknown", KindPaymentFailed: "payment.failed",
	} {
		kindNames[k] = name
	}
}
