// A whole account-information journey against the Open Banking Sandbox with
// openid-client (npm install; Node.js 20.19 or later). The sandbox's
// discovery and dynamic client registration give the client; it authenticates
// with private_key_jwt, pushes its authorization request (PAR) with PKCE,
// has the PSU approve headlessly, exchanges the code (openid-client checks
// the ID token, state and iss), reads the accounts and balances. Dev profile:
//
//   SANDBOX_URL=http://127.0.0.1:8080 node journey.mjs
import * as client from 'openid-client';

const base = (process.env.SANDBOX_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const psu = process.env.SANDBOX_PSU || 'alice';
const password = process.env.SANDBOX_PSU_PASSWORD || 'alice123';
const redirectUri = 'http://localhost:3000/callback';

async function check(resp, status) {
  if (resp.status !== status) {
    throw new Error(`${resp.url}: ${resp.status}, want ${status}: ${(await resp.text()).slice(0, 500)}`);
  }
  return resp;
}

// The TPP's signing key; its public half is registered as a JWKS.
const { privateKey, publicKey } = await crypto.subtle.generateKey(
  { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify']);
const jwk = { ...(await crypto.subtle.exportKey('jwk', publicKey)), kid: 'node-example', use: 'sig', alg: 'PS256' };
delete jwk.key_ops;
delete jwk.ext;

// http:// only because the sandbox runs on this machine (dev profile).
const insecure = base.startsWith('http:') ? [client.allowInsecureRequests] : [];
const config = await client.dynamicClientRegistration(new URL(base), {
  client_name: 'Node example', redirect_uris: [redirectUri], token_endpoint_auth_method: 'private_key_jwt',
  token_endpoint_auth_signing_alg: 'PS256', jwks: { keys: [jwk] }, id_token_signed_response_alg: 'PS256',
}, client.PrivateKeyJwt({ key: privateKey, kid: 'node-example' }), { execute: insecure });
console.log('registered', config.clientMetadata().client_id, 'at', config.serverMetadata().issuer);

// A client-credentials token, then an account-access consent.
const cc = await client.clientCredentialsGrant(config, { scope: 'accounts' });
const api = `${base}/open-banking/v3.1/aisp`;
const consent = await (await check(await client.fetchProtectedResource(config, cc.access_token, new URL(`${api}/account-access-consents`), 'POST',
  JSON.stringify({ Data: { Permissions: ['ReadAccountsDetail', 'ReadBalances'] }, Risk: {} }),
  new Headers({ 'Content-Type': 'application/json' })), 201)).json();
const consentId = consent.Data.ConsentId;
console.log('consent', consentId, consent.Data.Status);

// PAR with PKCE, the ConsentId in the claims parameter.
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authorizeUrl = await client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: redirectUri, scope: 'openid accounts', state, nonce,
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  claims: JSON.stringify({ id_token: { openbanking_intent_id: { value: consentId, essential: true } } }),
});

// The PSU logs in and approves, headlessly (a browser would open authorizeUrl).
const decision = await (await check(await fetch(`${base}/sandbox/psu/authorize`, {
  method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ authorize_url: authorizeUrl.href, username: psu, password, decision: 'approve' }),
}), 200)).json();

// The code exchange: openid-client checks state, iss and the ID token.
const tokens = await client.authorizationCodeGrant(config, new URL(decision.redirect_to),
  { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
const claims = tokens.claims();
if (claims.openbanking_intent_id !== consentId) throw new Error(`the ID token names consent ${claims.openbanking_intent_id}`);
console.log('ID token verified: sub', claims.sub);

// The data, with the PSU's token.
const read = async (url) => (await check(await client.fetchProtectedResource(config, tokens.access_token, new URL(url), 'GET'), 200)).json();
const accounts = (await read(`${api}/accounts`)).Data.Account;
for (const a of accounts) {
  const booked = (await read(`${api}/accounts/${a.AccountId}/balances`)).Data.Balance.find((b) => b.Type === 'InterimBooked');
  const sign = booked.CreditDebitIndicator === 'Debit' ? '-' : '';
  console.log(`account ${a.Nickname}: ${sign}${booked.Amount.Amount} ${booked.Amount.Currency}`);
}
console.log(`${accounts.length} accounts read. OK`);
