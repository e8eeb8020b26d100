#!/usr/bin/env bash
# The README's AIS walk-through as one script: bash docs/walkthrough.sh (needs curl and jq;
# SANDBOX=http://host:port to point it elsewhere; API=v4.0 to go through UK OB v4.0 instead of v3.1.11).
# Stop at the first step that fails and say which, and what the bank answered.
set -euo pipefail
SANDBOX=${SANDBOX:-http://127.0.0.1:8080}
API=${API:-v3.1}
[[ $API == v3.1 || $API == v4.0 ]] || { echo "${0##*/}: API is v3.1 or v4.0, not $API" >&2; exit 1; }
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
# 1. Register a client (dev profile: JSON metadata, a client secret)
REG=$(curl -s -X POST $SANDBOX/as/register -H 'Content-Type: application/json' \
  -d '{"client_name":"My App","redirect_uris":["http://localhost:3000/callback"]}')
CLIENT_ID=$(jq -er .client_id <<<"$REG"); CLIENT_SECRET=$(jq -er .client_secret <<<"$REG")
# 2. A client-credentials token for the consent endpoints
CC=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=client_credentials -d scope=accounts | jq -er .access_token)
# 3. An account-access consent
CONSENT=$(curl -s $SANDBOX/open-banking/$API/aisp/account-access-consents -H "Authorization: Bearer $CC" \
  -H 'Content-Type: application/json' \
  -d '{"Data":{"Permissions":["ReadAccountsDetail","ReadBalances","ReadTransactionsDetail","ReadTransactionsCredits","ReadTransactionsDebits"]},"Risk":{}}' \
  | jq -er .Data.ConsentId)
# 4. Push the authorization request (PAR; dev takes plain parameters) with PKCE
VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk   # RFC 7636's example; S256 of it below
REQUEST_URI=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/par -d response_type=code \
  -d redirect_uri=http://localhost:3000/callback -d scope='openid accounts' -d state=af0ifjsldkj \
  -d code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM -d code_challenge_method=S256 \
  --data-urlencode "claims={\"id_token\":{\"openbanking_intent_id\":{\"value\":\"$CONSENT\"}}}" | jq -er .request_uri)
AUTHORIZE_URL="$SANDBOX/as/authorize?client_id=$CLIENT_ID&request_uri=$REQUEST_URI"
echo "Open in a browser: $AUTHORIZE_URL"
# 5. ...or let the headless PSU log in as alice and approve
REDIRECT=$(curl -s $SANDBOX/sandbox/psu/authorize -H 'Content-Type: application/json' \
  -d "{\"authorize_url\":\"$AUTHORIZE_URL\",\"username\":\"alice\",\"password\":\"alice123\",\"decision\":\"approve\"}" | jq -er .redirect_to)
[[ $REDIRECT == *[?\&]code=* ]] || fail "the PSU's answer carries no code: $REDIRECT"
CODE=$(echo "$REDIRECT" | sed -E 's/.*[?&]code=([^&]+).*/\1/')
# 6. Exchange the code
TOKENS=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=authorization_code -d code=$CODE \
  -d redirect_uri=http://localhost:3000/callback -d code_verifier=$VERIFIER)
TOKEN=$(echo "$TOKENS" | jq -er .access_token); REFRESH=$(echo "$TOKENS" | jq -r .refresh_token)
# 7. Read the accounts, a balance, a page of transactions
curl -s $SANDBOX/open-banking/$API/aisp/accounts -H "Authorization: Bearer $TOKEN" | jq '.Data.Account[] | {AccountId, Nickname}'
ACCOUNT=$(curl -s $SANDBOX/open-banking/$API/aisp/accounts -H "Authorization: Bearer $TOKEN" | jq -er '.Data.Account[0].AccountId')
curl -s $SANDBOX/open-banking/$API/aisp/accounts/$ACCOUNT/balances -H "Authorization: Bearer $TOKEN" | jq '.Data.Balance[0]'
curl -s "$SANDBOX/open-banking/$API/aisp/accounts/$ACCOUNT/transactions?page-size=3" -H "Authorization: Bearer $TOKEN" | jq '.Data.Transaction[0], .Links, .Meta'
# 8. Refresh, then revoke the consent: the token stops working at once (401)
TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=refresh_token -d refresh_token=$REFRESH | jq -er .access_token)
curl -s -X DELETE $SANDBOX/open-banking/$API/aisp/account-access-consents/$CONSENT -H "Authorization: Bearer $CC" -o /dev/null -w '%{http_code}\n'
command curl -s $SANDBOX/open-banking/$API/aisp/accounts -H "Authorization: Bearer $TOKEN" -o /dev/null -w '%{http_code}\n'   # 401 expected
