// A minimal web application that signs its users in with Gatehouse: authorization code
// flow with PKCE (openid-client), then offline verification of the ID token against
// Gatehouse's JWKS (jose). Run it with the values `gatehouse client create` printed:
//
//   CLIENT_ID=… CLIENT_SECRET=… node examples/relying-party.mjs
//
// then open http://localhost:8080 in a browser.
import { createServer } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';

const ISSUER = process.env.ISSUER ?? 'http://localhost:3000';
const PORT = Number(process.env.PORT ?? 8080);
const BASE = process.env.APP_URL ?? `http://localhost:${PORT}`;
const REDIRECT_URI = `${BASE}/callback`;
const { CLIENT_ID, CLIENT_SECRET } = process.env;
if (!CLIENT_ID || !CLIENT_SECRET) {
  console.error('Set CLIENT_ID and CLIENT_SECRET (from `npx gatehouse client create`).');
  process.exit(1);
}

// openid-client insists on https; allow plain http only for a local issuer.
const insecure = new URL(ISSUER).protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined;
// HTTP Basic: the client_secret_basic method clients are registered with by default.
const config = await oidc.discovery(new URL(ISSUER), CLIENT_ID, undefined, oidc.ClientSecretBasic(CLIENT_SECRET), insecure);
const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));

// One pending login per browser, keyed by a cookie (a real app keeps this in its session).
const pending = new Map();

const server = createServer(async (req, res) => {
  const url = new URL(req.url, BASE);
  try {
    if (url.pathname === '/') {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const key = oidc.randomState();
      pending.set(key, { verifier, state, nonce });
      const target = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid profile email',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      res.writeHead(302, { location: target.href, 'set-cookie': `login=${key}; HttpOnly; Path=/; SameSite=Lax` });
      return res.end();
    }
    if (url.pathname === '/callback') {
      const key = /(?:^|;\s*)login=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
      const login = key && pending.get(key);
      if (!login) throw new Error('no login in progress in this browser');
      pending.delete(key);
      const tokens = await oidc.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: login.verifier,
        expectedState: login.state,
        expectedNonce: login.nonce,
      });
      // What any service can do offline: verify the ID token's signature and claims.
      const { payload } = await jwtVerify(tokens.id_token, jwks, { issuer: config.serverMetadata().issuer, audience: CLIENT_ID });
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      return res.end(`Signed in as ${payload.email} (sub ${payload.sub}).\n\nVerified ID token claims:\n${JSON.stringify(payload, null, 2)}\n`);
    }
    res.writeHead(404).end();
  } catch (error) {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`Sign-in failed: ${error.message}\n`);
  }
});
server.listen(PORT, () => console.log(`Example app on ${BASE} (issuer ${ISSUER})`));
