#!/usr/bin/env bash
# The README's AIS walk-through as one script: bash docs/walkthrough.sh (needs curl and jq;
# SANDBOX=http://host:port to point it elsewhere).
set -euo pipefail
SANDBOX=${SANDBOX:-http://127.0.0.1:8080}
# 1. Register a client (dev profile: JSON metadata, a client secret)
REG=$(curl -s -X POST $SANDBOX/as/register -H 'Content-Type: application/json' \
  -d '{"client_name":"My App","redirect_uris":["http://localhost:3000/callback"]}')
CLIENT_ID=$(echo "$REG" | jq -r .client_id); CLIENT_SECRET=$(echo "$REG" | jq -r .client_secret)
# 2. A client-credentials token for the consent endpoints
CC=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=client_credentials -d scope=accounts | jq -r .access_token)
# 3. An account-access consent
CONSENT=$(curl -s $SANDBOX/open-banking/v3.1/aisp/account-access-consents -H "Authorization: Bearer $CC" \
  -H 'Content-Type: application/json' \
  -d '{"Data":{"Permissions":["ReadAccountsDetail","ReadBalances","ReadTransactionsDetail","ReadTransactionsCredits","ReadTransactionsDebits"]},"Risk":{}}' \
  | jq -r .Data.ConsentId)
# 4. Push the authorization request (PAR; dev takes plain parameters) with PKCE
VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk   # RFC 7636's example; S256 of it below
REQUEST_URI=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/par -d response_type=code \
  -d redirect_uri=http://localhost:3000/callback -d scope='openid accounts' -d state=af0ifjsldkj \
  -d code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM -d code_challenge_method=S256 \
  --data-urlencode "claims={\"id_token\":{\"openbanking_intent_id\":{\"value\":\"$CONSENT\"}}}" | jq -r .request_uri)
AUTHORIZE_URL="$SANDBOX/as/authorize?client_id=$CLIENT_ID&request_uri=$REQUEST_URI"
echo "Open in a browser: $AUTHORIZE_URL"
# 5. ...or let the headless PSU log in as alice and approve
REDIRECT=$(curl -s $SANDBOX/sandbox/psu/authorize -H 'Content-Type: application/json' \
  -d "{\"authorize_url\":\"$AUTHORIZE_URL\",\"username\":\"alice\",\"password\":\"alice123\",\"decision\":\"approve\"}" | jq -r .redirect_to)
CODE=$(echo "$REDIRECT" | sed -E 's/.*[?&]code=([^&]+).*/\1/')
# 6. Exchange the code
TOKENS=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=authorization_code -d code=$CODE \
  -d redirect_uri=http://localhost:3000/callback -d code_verifier=$VERIFIER)
TOKEN=$(echo "$TOKENS" | jq -r .access_token); REFRESH=$(echo "$TOKENS" | jq -r .refresh_token)
# 7. Read the accounts, a balance, a page of transactions
curl -s $SANDBOX/open-banking/v3.1/aisp/accounts -H "Authorization: Bearer $TOKEN" | jq '.Data.Account[] | {AccountId, Nickname}'
ACCOUNT=$(curl -s $SANDBOX/open-banking/v3.1/aisp/accounts -H "Authorization: Bearer $TOKEN" | jq -r '.Data.Account[0].AccountId')
curl -s $SANDBOX/open-banking/v3.1/aisp/accounts/$ACCOUNT/balances -H "Authorization: Bearer $TOKEN" | jq '.Data.Balance[0]'
curl -s "$SANDBOX/open-banking/v3.1/aisp/accounts/$ACCOUNT/transactions?page-size=3" -H "Authorization: Bearer $TOKEN" | jq '.Data.Transaction[0], .Links, .Meta'
# 8. Refresh, then revoke the consent: the token stops working at once (401)
TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=refresh_token -d refresh_token=$REFRESH | jq -r .access_token)
curl -s -X DELETE $SANDBOX/open-banking/v3.1/aisp/account-access-consents/$CONSENT -H "Authorization: Bearer $CC" -o /dev/null -w '%{http_code}\n'
curl -s $SANDBOX/open-banking/v3.1/aisp/accounts -H "Authorization: Bearer $TOKEN" -o /dev/null -w '%{http_code}\n'
