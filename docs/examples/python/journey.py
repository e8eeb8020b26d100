#!/usr/bin/env python3
"""A whole account-information journey against the Open Banking Sandbox, in
Python with requests and PyJWT (Debian: python3-requests python3-jwt
python3-cryptography; or pip install requests 'pyjwt[crypto]').

The TPP authenticates with private_key_jwt (a client assertion it signs with
its own key), pushes its authorization request (PAR) with PKCE, has the PSU
approve headlessly, verifies the ID token against the bank's JWKS, reads the
accounts and balances, and revokes the consent. Dev profile:

    SANDBOX_URL=http://127.0.0.1:8080 python3 journey.py
"""
import base64
import hashlib
import json
import os
import secrets
import sys
import time
import uuid

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

BASE = os.environ.get("SANDBOX_URL", "http://127.0.0.1:8080").rstrip("/")
PSU, PASSWORD = os.environ.get("SANDBOX_PSU", "alice"), os.environ.get("SANDBOX_PSU_PASSWORD", "alice123")
REDIRECT = "http://localhost:3000/callback"
http = requests.Session()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def check(resp: requests.Response, status: int) -> requests.Response:
    if resp.status_code != status:
        sys.exit(f"{resp.request.method} {resp.url}: {resp.status_code}, want {status}: {resp.text[:500]}")
    return resp


# Discovery: every endpoint comes from the bank's metadata.
meta = check(http.get(f"{BASE}/.well-known/openid-configuration"), 200).json()
print("issuer", meta["issuer"])

# The TPP's signing key, and its public half as a JWKS in the registration.
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
kid = uuid.uuid4().hex
public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
public_jwk.update(kid=kid, use="sig", alg="PS256")
reg = check(http.post(meta["registration_endpoint"], json={
    "client_name": "Python example", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt",
    "token_endpoint_auth_signing_alg": "PS256", "jwks": {"keys": [public_jwk]}}), 201).json()
client_id = reg["client_id"]
print("registered", client_id)


def assertion() -> dict:
    """private_key_jwt (RFC 7523): a JWT for the token endpoint, single use."""
    now = int(time.time())
    token = jwt.encode({"iss": client_id, "sub": client_id, "aud": meta["issuer"], "jti": str(uuid.uuid4()),
                        "iat": now, "exp": now + 300}, key, algorithm="PS256", headers={"kid": kid})
    return {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": token}


def token(**form) -> dict:
    return check(http.post(meta["token_endpoint"], data={**form, **assertion()}), 200).json()


# A client-credentials token, then an account-access consent.
cc = token(grant_type="client_credentials", scope="accounts")["access_token"]
api = f"{BASE}/open-banking/v3.1/aisp"
consent = check(http.post(f"{api}/account-access-consents", headers={"Authorization": f"Bearer {cc}"}, json={
    "Data": {"Permissions": ["ReadAccountsDetail", "ReadBalances", "ReadTransactionsDetail",
                             "ReadTransactionsCredits", "ReadTransactionsDebits"]}, "Risk": {}}), 201).json()
consent_id = consent["Data"]["ConsentId"]
print("consent", consent_id, consent["Data"]["Status"])

# PAR with PKCE (S256) and a nonce; the ConsentId in the claims parameter.
verifier = b64url(secrets.token_bytes(32))
challenge = b64url(hashlib.sha256(verifier.encode()).digest())
state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
par = check(http.post(meta["pushed_authorization_request_endpoint"], data={
    "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid accounts", "state": state, "nonce": nonce,
    "code_challenge": challenge, "code_challenge_method": "S256",
    "claims": json.dumps({"id_token": {"openbanking_intent_id": {"value": consent_id, "essential": True}}}),
    **assertion()}), 201).json()
authorize_url = f"{meta['authorization_endpoint']}?client_id={client_id}&request_uri={requests.utils.quote(par['request_uri'], safe='')}"

# The PSU logs in and approves, headlessly (a browser would open authorize_url).
redirect_to = check(http.post(f"{BASE}/sandbox/psu/authorize", json={
    "authorize_url": authorize_url, "username": PSU, "password": PASSWORD, "decision": "approve"}), 200).json()["redirect_to"]
back = requests.utils.urlparse(redirect_to)
params = dict(p.split("=", 1) for p in back.query.split("&"))
if params.get("state") != state or requests.utils.unquote(params.get("iss", "")) != meta["issuer"]:
    sys.exit(f"the authorization response is not ours: {redirect_to}")
tokens = token(grant_type="authorization_code", code=requests.utils.unquote(params["code"]), redirect_uri=REDIRECT,
               code_verifier=verifier)

# The ID token, verified against the bank's published keys.
signing_key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(tokens["id_token"])
id_token = jwt.decode(tokens["id_token"], signing_key.key, algorithms=meta["id_token_signing_alg_values_supported"],
                      audience=client_id, issuer=meta["issuer"])
if id_token.get("nonce") != nonce or id_token.get("openbanking_intent_id") != consent_id:
    sys.exit(f"the ID token does not match the request: {id_token}")
print("ID token verified: sub", id_token["sub"])

# The data, with the PSU's token.
auth = {"Authorization": f"Bearer {tokens['access_token']}"}
accounts = check(http.get(f"{api}/accounts", headers=auth), 200).json()["Data"]["Account"]
for a in accounts:
    balances = check(http.get(f"{api}/accounts/{a['AccountId']}/balances", headers=auth), 200).json()["Data"]["Balance"]
    booked = next(b for b in balances if b["Type"] == "InterimBooked")
    sign = "-" if booked["CreditDebitIndicator"] == "Debit" else ""
    print(f"account {a['Nickname']}: {sign}{booked['Amount']['Amount']} {booked['Amount']['Currency']}")

# Revoke: the token stops working at once.
check(http.delete(f"{api}/account-access-consents/{consent_id}", headers={"Authorization": f"Bearer {cc}"}), 204)
check(http.get(f"{api}/accounts", headers=auth), 401)
print(f"revoked; {len(accounts)} accounts read. OK")
