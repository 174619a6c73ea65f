// A minimal API (resource server) that accepts Gatehouse access tokens: JWTs (RFC 9068)
// verified offline with `gatehouse/verify` against the keys Gatehouse publishes. No call to
// Gatehouse per request; the key set is fetched once, cached, and fetched again when a
// token names a key it has not seen (key rotation).
//
// Try it against a local Gatehouse (embedded store: run the CLI while the server is
// stopped; on PostgreSQL it can run at any time):
//
//   npm run build
//   npx gatehouse api create --identifier https://invoices.example.com \
//     --scope "invoices:read=Read your invoices" --scope "invoices:write=Change your invoices"
//   npx gatehouse client create --name invoice-reader --grant-type client_credentials \
//     --api https://invoices.example.com > reader.json
//   npm start                                   # Gatehouse on http://localhost:3000
//
// In another shell, start this example and get a token for the API:
//
//   ISSUER=http://localhost:3000 API_IDENTIFIER=https://invoices.example.com PORT=4000 \
//     node examples/resource-server.mjs
//   CLIENT_ID=$(node -p "require('./reader.json').client.client_id")
//   CLIENT_SECRET=$(node -p "require('./reader.json').client_secret")
//   TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" http://localhost:3000/token \
//     -d grant_type=client_credentials -d resource=https://invoices.example.com -d scope=invoices:read \
//     | node -p "JSON.parse(require('fs').readFileSync(0, 'utf8')).access_token")
//
// Then call the API:
//
//   curl -i http://localhost:4000/invoices                                  # 401, WWW-Authenticate: Bearer realm="…"
//   curl -i -H "Authorization: Bearer $TOKEN" http://localhost:4000/invoices  # 200 with the invoices
//
// A token without invoices:read gets 403 (insufficient_scope); an expired, forged or
// foreign token gets 401 (invalid_token). A DPoP-bound token (RFC 9449, `cnf.jkt`) is
// accepted only as `Authorization: DPoP <token>` with a DPoP proof for this request; the
// middleware checks it (behind a proxy, pass `origin` to createVerifier so the proof's
// URL is compared with the one clients call). `gatehouse/verify` resolves through this
// package's "exports" (dist/verify), hence `npm run build` first; in another project,
// install Gatehouse and import it the same way.
import { createServer } from 'node:http';
import { createVerifier, expressAccessToken } from 'gatehouse/verify';

const ISSUER = process.env.ISSUER ?? 'http://localhost:3000';
const API_IDENTIFIER = process.env.API_IDENTIFIER ?? 'https://invoices.example.com';
const PORT = Number(process.env.PORT ?? 4000);
const HOST = process.env.HOST ?? '127.0.0.1';

// Issuer exactly as in Gatehouse's discovery document; the audience is the API identifier.
const verifier = createVerifier({ issuer: ISSUER, audience: API_IDENTIFIER });
const requireRead = expressAccessToken(verifier, { scopes: ['invoices:read'] });

// Sample data: invoices per subject (a user id, or a client id for client credentials).
const invoices = (subject) => [
  { id: 'INV-1001', customer: subject, amount: 120.5, currency: 'EUR' },
  { id: 'INV-1002', customer: subject, amount: 89, currency: 'EUR' },
];

function json(res, status, body) {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  res.end(JSON.stringify(body));
}

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  if (pathname !== '/invoices') return json(res, 404, { error: 'not_found' });
  if (req.method !== 'GET') {
    res.setHeader('allow', 'GET');
    return json(res, 405, { error: 'method_not_allowed' });
  }
  // 401/403 with WWW-Authenticate (RFC 6750) unless the token is valid and holds the scope.
  requireRead(req, res, (error) => {
    if (error) {
      console.error('token verification failed unexpectedly:', error);
      return json(res, 503, { error: 'temporarily_unavailable' });
    }
    const { claims, scopes, roles } = req.auth;
    json(res, 200, { subject: claims.sub, client_id: claims.client_id, scopes: [...scopes], roles, invoices: invoices(claims.sub) });
  });
});

server.listen(PORT, HOST, () => {
  console.log(`Invoices API on http://${HOST}:${PORT}/invoices, accepting tokens from ${ISSUER} for ${API_IDENTIFIER}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
