#!/usr/bin/env bash
# The README's payment walk-through as one script: bash docs/payment-walkthrough.sh
# (needs curl and jq; dev profile: no message signature needed; SANDBOX=http://host:port).
set -euo pipefail
SANDBOX=${SANDBOX:-http://127.0.0.1:8080}
ADMIN=${ADMIN:?set ADMIN to the admin token the sandbox printed at start-up}
REG=$(curl -s -X POST $SANDBOX/as/register -H 'Content-Type: application/json' \
  -d '{"client_name":"My Payments App","redirect_uris":["http://localhost:3000/callback"]}')
CLIENT_ID=$(echo "$REG" | jq -r .client_id); CLIENT_SECRET=$(echo "$REG" | jq -r .client_secret)
CC=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=client_credentials -d scope=payments | jq -r .access_token)
# 1. A domestic payment consent: 25.00 GBP to Greenfield Lettings, idempotent by its key
INITIATION='{"InstructionIdentification":"ACME-001","EndToEndIdentification":"E2E-001","LocalInstrument":"UK.OBIE.FPS",
 "InstructedAmount":{"Amount":"25.00","Currency":"GBP"},
 "CreditorAccount":{"SchemeName":"UK.OBIE.SortCodeAccountNumber","Identification":"20041533104477","Name":"Greenfield Lettings"},
 "RemittanceInformation":{"Reference":"RENT DEC"}}'
CONSENT=$(curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payment-consents -H "Authorization: Bearer $CC" \
  -H 'Content-Type: application/json' -H "x-idempotency-key: consent-$RANDOM$RANDOM" \
  -d "{\"Data\":{\"Initiation\":$INITIATION},\"Risk\":{}}" | jq -r .Data.ConsentId)
# 2. The PSU (alice) approves it, paying from her current account
REQUEST_URI=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/par -d response_type=code \
  -d redirect_uri=http://localhost:3000/callback -d scope='openid payments' -d state=pay1 \
  -d code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM -d code_challenge_method=S256 \
  --data-urlencode "claims={\"id_token\":{\"openbanking_intent_id\":{\"value\":\"$CONSENT\"}}}" | jq -r .request_uri)
REDIRECT=$(curl -s $SANDBOX/sandbox/psu/authorize -H 'Content-Type: application/json' \
  -d "{\"authorize_url\":\"$SANDBOX/as/authorize?client_id=$CLIENT_ID&request_uri=$REQUEST_URI\",\"username\":\"alice\",\"password\":\"alice123\",\"decision\":\"approve\"}" | jq -r .redirect_to)
CODE=$(echo "$REDIRECT" | sed -E 's/.*[?&]code=([^&]+).*/\1/')
TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" $SANDBOX/as/token -d grant_type=authorization_code -d code=$CODE \
  -d redirect_uri=http://localhost:3000/callback -d code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk | jq -r .access_token)
# 3. Funds check, then the payment (same Initiation and Risk as the consent; its own idempotency key)
curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payment-consents/$CONSENT/funds-confirmation -H "Authorization: Bearer $TOKEN" | jq .Data
PAYMENT=$(curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payments -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -H "x-idempotency-key: payment-$RANDOM$RANDOM" \
  -d "{\"Data\":{\"ConsentId\":\"$CONSENT\",\"Initiation\":$INITIATION},\"Risk\":{}}" | jq -r .Data.DomesticPaymentId)
curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payments/$PAYMENT -H "Authorization: Bearer $CC" | jq -r .Data.Status   # Pending
# 4. Move the sandbox clock past settlement (default 2 s) and look again
curl -s -X POST $SANDBOX/sandbox/clock -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d '{"advance":"5s"}' | jq -r .now
curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payments/$PAYMENT -H "Authorization: Bearer $CC" | jq -r .Data.Status   # AcceptedSettlementCompleted
curl -s $SANDBOX/open-banking/v3.1/pisp/domestic-payments/$PAYMENT/payment-details -H "Authorization: Bearer $CC" | jq -c '.Data.PaymentStatus[] | {Status, StatusUpdateDateTime}'
