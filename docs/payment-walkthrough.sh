#!/usr/bin/env bash
# The README's payment walk-through as one script: bash docs/payment-walkthrough.sh
# (needs curl and jq; dev profile: no message signature needed; SANDBOX=http://host:port).
# Stop at the first step that fails and say which, and what the bank answered.
set -euo pipefail
SANDBOX=${SANDBOX:-http://127.0.0.1:8080}
fail() { echo "${0##*/}: $*" >&2; exit 1; }
trap 'fail "the step at line $LINENO failed: $BASH_COMMAND"' ERR
for tool in curl jq; do command -v "$tool" >/dev/null || fail "needs $tool"; done
DISCOVERY=$(command curl -sS -m 10 "$SANDBOX/.well-known/openid-configuration" 2>&1) || {
  (($? == 60)) && fail "curl does not trust the certificate of $SANDBOX: get the sandbox's CA and trust it:" \
    "curl -sk $SANDBOX/sandbox/certs/ca.pem -o ca.pem; export CURL_CA_BUNDLE=\$PWD/ca.pem"
  fail "no sandbox answers at $SANDBOX ($DISCOVERY): start one with 'go run ./cmd/sandbox', or point SANDBOX at it"
}
jq -e '.token_endpoint_auth_methods_supported | index("client_secret_basic")' <<<"$DISCOVERY" >/dev/null ||
  fail "the sandbox at $SANDBOX runs the fapi profile, and this walk-through uses the dev profile's client secrets and plain PAR: see the README's 'Quick start: the fapi profile'"
# Every call below must answer 2xx; otherwise the script stops with the bank's answer.
curl() {
  local body url=""
  for a; do [[ $a == "$SANDBOX"* ]] && url=$a; done
  body=$(command curl -sS --fail-with-body "$@") || fail "${url:-curl $*}: ${body:-no answer}"
  printf '%s\n' "$body"
}
ADMIN=${ADMIN:-${SANDBOX_ADMIN_TOKEN:-}}
[[ -n $ADMIN ]] || fail "set ADMIN to the sandbox's admin token (printed at its start-up) to move its clock"
REG=$(curl -s -X POST $SANDBOX/as/register -H 'Content-Type: application/json' \
  -d '{"client_name":"My Payments App","redirect_uris":["http://localhost:3000/callback"]}')
CLIENT_ID=$(jq -er .client_id <<<"$REG"); CLIENT_SECRET=$(jq -er .client_secret <<<"$REG")
CC=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=client_credentials -d scope=payments | jq -er .access_token)
# 1. A domestic payment consent: 25.00 GBP to Greenfield Lettings, idempotent by its key
INITIATION='{"InstructionIdentification":"ACME-001","EndToEndIdentification":"E2E-001","LocalInstrument":"UK.OBIE.FPS",
 "InstructedAmount":{"Amount":"25.00","Currency":"GBP"},
 "CreditorAccount":{"SchemeName":"UK.OBIE.SortCodeAccountNumber","Identification":"20041533104477","Name":"Greenfield Lettings"},
 "RemittanceInformation":{"Reference":"RENT DEC"}}'
CONSENT=$(curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payment-consents -H "Authorization: Bearer $CC" \
  -H 'Content-Type: application/json' -H "x-idempotency-key: consent-$RANDOM$RANDOM" \
  -d "{\"Data\":{\"Initiation\":$INITIATION},\"Risk\":{}}" | jq -er .Data.ConsentId)
# 2. The PSU (alice) approves it, paying from her current account
REQUEST_URI=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/par -d response_type=code \
  -d redirect_uri=http://localhost:3000/callback -d scope='openid payments' -d state=pay1 \
  -d code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM -d code_challenge_method=S256 \
  --data-urlencode "claims={\"id_token\":{\"openbanking_intent_id\":{\"value\":\"$CONSENT\"}}}" | jq -er .request_uri)
REDIRECT=$(curl -s $SANDBOX/sandbox/psu/authorize -H 'Content-Type: application/json' \
  -d "{\"authorize_url\":\"$SANDBOX/as/authorize?client_id=$CLIENT_ID&request_uri=$REQUEST_URI\",\"username\":\"alice\",\"password\":\"alice123\",\"decision\":\"approve\"}" | jq -er .redirect_to)
[[ $REDIRECT == *[?\&]code=* ]] || fail "the PSU's answer carries no code: $REDIRECT"
CODE=$(echo "$REDIRECT" | sed -E 's/.*[?&]code=([^&]+).*/\1/')
TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=authorization_code -d code=$CODE \
  -d redirect_uri=http://localhost:3000/callback -d code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk | jq -er .access_token)
# 3. Funds check, then the payment (same Initiation and Risk as the consent; its own idempotency key)
curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payment-consents/$CONSENT/funds-confirmation -H "Authorization: Bearer $TOKEN" | jq .Data
PAYMENT=$(curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payments -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -H "x-idempotency-key: payment-$RANDOM$RANDOM" \
  -d "{\"Data\":{\"ConsentId\":\"$CONSENT\",\"Initiation\":$INITIATION},\"Risk\":{}}" | jq -er .Data.DomesticPaymentId)
curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payments/$PAYMENT -H "Authorization: Bearer $CC" | jq -r .Data.Status   # Pending
# 4. Move the sandbox clock past settlement (default 2 s) and look again
curl -s -X POST $SANDBOX/sandbox/clock -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d '{"advance":"5s"}' | jq -r .now
curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payments/$PAYMENT -H "Authorization: Bearer $CC" | jq -r .Data.Status   # AcceptedSettlementCompleted
curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payments/$PAYMENT/payment-details -H "Authorization: Bearer $CC" | jq -c '.Data.PaymentStatus[] | {Status, StatusUpdateDateTime}'
