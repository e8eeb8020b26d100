#!/usr/bin/env bash
# The README's VRP walk-through as one script: bash docs/vrp-walkthrough.sh
# (needs curl and jq; dev profile: no message signature needed; SANDBOX=http://host:port;
# ADMIN=<admin token> to move the sandbox clock). Pay under a mandate until its monthly limit
# says no, move the clock into the next period, pay again. Stops at the first step that fails.
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
  fail "the sandbox at $SANDBOX runs a fapi profile, and this walk-through uses the dev profile's client secrets and plain PAR"
# Every call below must answer 2xx, except where the answer is the point; otherwise the script stops with it.
curl() {
  local body url=""
  for a; do [[ $a == "$SANDBOX"* ]] && url=$a; done
  body=$(command curl -sS --fail-with-body "$@") || fail "${url:-curl $*}: ${body:-no answer}"
  printf '%s\n' "$body"
}
ADMIN=${ADMIN:-${SANDBOX_ADMIN_TOKEN:-}}
[[ -n $ADMIN ]] || fail "set ADMIN to the sandbox's admin token (printed at its start-up) to move its clock"
REG=$(curl -s -X POST $SANDBOX/as/register -H 'Content-Type: application/json' \
  -d '{"client_name":"My Gym App","redirect_uris":["http://localhost:3000/callback"]}')
CLIENT_ID=$(jq -er .client_id <<<"$REG"); CLIENT_SECRET=$(jq -er .client_secret <<<"$REG")
CC=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=client_credentials -d scope=payments | jq -er .access_token)
VRP=$SANDBOX/open-banking/v3.1/pisp
# 1. A VRP consent (a mandate): to Greenfield Lettings, at most 100.00 a payment, 150.00 a month from today
INITIATION='{"CreditorAccount":{"SchemeName":"UK.OBIE.SortCodeAccountNumber","Identification":"20041533104477","Name":"Greenfield Lettings"},
 "RemittanceInformation":{"Reference":"GYM 2026"}}'
RISK='{"PaymentContextCode":"BillingGoodsAndServicesInArrears"}'
CONSENT=$(curl -s $VRP/domestic-vrp-consents -H "Authorization: Bearer $CC" -H 'Content-Type: application/json' \
  -H "x-idempotency-key: vrp-consent-$RANDOM$RANDOM" -d "{\"Data\":{\"ControlParameters\":{
   \"MaximumIndividualAmount\":{\"Amount\":\"100.00\",\"Currency\":\"GBP\"},
   \"PeriodicLimits\":[{\"PeriodType\":\"Month\",\"PeriodAlignment\":\"Consent\",\"Amount\":\"150.00\",\"Currency\":\"GBP\"}],
   \"VRPType\":[\"UK.OBIE.VRPType.Other\"],\"PSUAuthenticationMethods\":[\"UK.OBIE.SCANotRequired\"]},
   \"Initiation\":$INITIATION},\"Risk\":$RISK}" | jq -er .Data.ConsentId)
# 2. The PSU (alice) approves it once; a VRP consent is long-lived: the tokens come with a refresh token
REQUEST_URI=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/par -d response_type=code \
  -d redirect_uri=http://localhost:3000/callback -d scope='openid payments' -d state=vrp1 \
  -d code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM -d code_challenge_method=S256 \
  --data-urlencode "claims={\"id_token\":{\"openbanking_intent_id\":{\"value\":\"$CONSENT\"}}}" | jq -er .request_uri)
REDIRECT=$(curl -s $SANDBOX/sandbox/psu/authorize -H 'Content-Type: application/json' \
  -d "{\"authorize_url\":\"$SANDBOX/as/authorize?client_id=$CLIENT_ID&request_uri=$REQUEST_URI\",\"username\":\"alice\",\"password\":\"alice123\",\"decision\":\"approve\"}" | jq -er .redirect_to)
CODE=$(echo "$REDIRECT" | sed -E 's/.*[?&]code=([^&]+).*/\1/')
TOKENS=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=authorization_code -d code=$CODE \
  -d redirect_uri=http://localhost:3000/callback -d code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk)
TOKEN=$(jq -er .access_token <<<"$TOKENS"); REFRESH=$(jq -er .refresh_token <<<"$TOKENS")
# 3. Payments without the PSU: Initiation and Risk as in the consent, the payment itself in Instruction
vrp() { # amount -> prints the HTTP status, then the answer
  command curl -sS -o /tmp/vrp-$$.json -w '%{http_code}\n' $VRP/domestic-vrps -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -H "x-idempotency-key: vrp-$RANDOM$RANDOM" -d "{\"Data\":{\"ConsentId\":\"$CONSENT\",
    \"PSUAuthenticationMethod\":\"UK.OBIE.SCANotRequired\",\"VRPType\":\"UK.OBIE.VRPType.Other\",\"Initiation\":$INITIATION,
    \"Instruction\":{\"InstructionIdentification\":\"GYM-$RANDOM\",\"EndToEndIdentification\":\"E2E-$RANDOM\",
     \"InstructedAmount\":{\"Amount\":\"$1\",\"Currency\":\"GBP\"},\"CreditorAccount\":$(jq -c .CreditorAccount <<<"$INITIATION"),
     \"RemittanceInformation\":{\"Reference\":\"GYM 2026\"}}},\"Risk\":$RISK}"
  jq -c 'if .Data then .Data | {DomesticVRPId, Status} else .Errors[0] | {ErrorCode, Path, Message} end' /tmp/vrp-$$.json
  rm -f /tmp/vrp-$$.json
}
vrp 100.00   # 201 {"DomesticVRPId":"vrp-...","Status":"Pending"}: 100.00 of this month's 150.00
vrp 60.00    # 400 UK.OBIE.Rules.FailsControlParameters, Path Data.ControlParameters.PeriodicLimits[0].Amount: nothing moves
# 4. Into the next period: move the sandbox clock, refresh the token (the old one ran out), pay again
curl -s -X POST $SANDBOX/sandbox/clock -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d '{"advance":"32d"}' | jq -r .now
TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=refresh_token -d refresh_token=$REFRESH | jq -er .access_token)
vrp 60.00    # 201: a new month, a new 150.00
