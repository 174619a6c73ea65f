// A small scripted browser for the login-flow benchmark: keep-alive HTTP/1.1 to
// 127.0.0.1 with node:http, a cookie jar that honours Path and deletion, and the
// authorization code flow (PKCE) through either server's pages, ending with the token
// request. Kept minimal so the load generator spends little CPU per flow.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

export function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    if (target.hostname !== '127.0.0.1') {
      reject(new Error(`refusing to send a request off loopback: ${target.origin}`));
      return;
    }
    const allHeaders = { ...headers };
    if (body !== undefined) allHeaders['content-length'] = Buffer.byteLength(body);
    const req = http.request(
      { hostname: target.hostname, port: target.port, path: target.pathname + target.search, method, headers: allHeaders, agent },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${method} ${target.pathname}`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function basicAuth(clientId, clientSecret) {
  // RFC 6749 §2.3.1: form-urlencode each part, then base64.
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

export function form(fields) {
  return new URLSearchParams(fields).toString();
}

class CookieJar {
  #cookies = new Map(); // `${path}\u0000${name}` → { name, value, path }

  store(setCookie, requestPath) {
    for (const line of setCookie ?? []) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = requestPath.replace(/\/[^/]*$/, '') || '/';
      let expired = value === '';
      for (const attribute of attributes) {
        const [key, raw = ''] = attribute.split('=');
        const lower = key.trim().toLowerCase();
        if (lower === 'path') path = raw.trim() || '/';
        else if (lower === 'max-age' && Number(raw) <= 0) expired = true;
        else if (lower === 'expires' && Date.parse(raw) <= Date.now()) expired = true;
      }
      const key = `${path}\u0000${name}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path });
    }
  }

  header(requestPath) {
    const matching = [];
    for (const cookie of this.#cookies.values()) {
      const { path } = cookie;
      if (requestPath === path || (requestPath.startsWith(path) && (path.endsWith('/') || requestPath[path.length] === '/'))) {
        matching.push(cookie);
      }
    }
    // Longer paths first (RFC 6265 §5.4).
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
  }
}

async function browse(jar, url, init = {}) {
  const path = new URL(url).pathname;
  const headers = { ...init.headers };
  const cookie = jar.header(path);
  if (cookie) headers.cookie = cookie;
  if (init.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const response = await request(url, { ...init, headers });
  jar.store(response.headers['set-cookie'], path);
  return response;
}

function attribute(html, pattern, what) {
  const match = pattern.exec(html);
  if (!match) throw new Error(`login flow: no ${what} in page: ${html.slice(0, 200)}`);
  return match[1].replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'");
}

/**
 * One complete sign-in by a new browser: authorization request → login page → login
 * POST → consent step (Gatehouse: automatic for a first-party client; baseline:
 * devInteractions' consent page and POST) → redirect with the code → token request.
 * Returns the token response and the number of HTTP requests the flow took.
 */
export async function loginFlow(server) {
  const { origin, kind, webClient } = server;
  // Flows take the bench users in turn.
  server.nextUser = ((server.nextUser ?? -1) + 1) % server.users.length;
  const user = server.users[server.nextUser];
  const jar = new CookieJar();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const params = {
    client_id: webClient.client_id,
    redirect_uri: server.redirectUri,
    response_type: 'code',
    // offline_access needs prompt=consent; both servers then issue a refresh token.
    scope: 'openid profile email offline_access',
    prompt: 'consent',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    nonce: randomBytes(16).toString('base64url'),
  };
  let url = `${origin}/auth?${form(params)}`;
  let response = await browse(jar, url);
  let requests = 1;
  let code;
  for (let step = 0; step < 20 && !code; step += 1) {
    if (response.status >= 300 && response.status < 400 && response.headers.location) {
      const next = new URL(response.headers.location, url).toString();
      if (next.startsWith(server.redirectUri)) {
        const callback = new URL(next);
        if (callback.searchParams.get('state') !== state) throw new Error('login flow: state mismatch');
        code = callback.searchParams.get('code');
        if (!code) throw new Error(`login flow: redirect without code: ${next}`);
        break;
      }
      url = next;
      response = await browse(jar, url);
      requests += 1;
      continue;
    }
    if (response.status !== 200) throw new Error(`login flow: HTTP ${response.status} at ${new URL(url).pathname}: ${response.body.slice(0, 200)}`);
    const html = response.body;
    if (kind === 'gatehouse') {
      if (html.includes('/login"')) {
        const action = attribute(html, /action="([^"]*\/login)"/, 'login form');
        const csrf = attribute(html, /name="csrf" value="([^"]*)"/, 'csrf token');
        url = new URL(action, url).toString();
        response = await browse(jar, url, { method: 'POST', body: form({ csrf, login: user.email, password: user.password }) });
      } else if (html.includes('/confirm"')) {
        const action = attribute(html, /action="([^"]*\/confirm)"/, 'consent form');
        const csrf = attribute(html, /name="csrf" value="([^"]*)"/, 'csrf token');
        url = new URL(action, url).toString();
        response = await browse(jar, url, { method: 'POST', body: form({ csrf }) });
      } else {
        throw new Error(`login flow: unexpected page: ${html.slice(0, 200)}`);
      }
    } else {
      const action = attribute(html, /<form[^>]*action="([^"]*)"/, 'form');
      url = new URL(action, url).toString();
      if (html.includes('name="prompt" value="login"')) {
        response = await browse(jar, url, { method: 'POST', body: form({ prompt: 'login', login: user.id, password: 'any' }) });
      } else if (html.includes('name="prompt" value="consent"')) {
        response = await browse(jar, url, { method: 'POST', body: form({ prompt: 'consent' }) });
      } else {
        throw new Error(`login flow: unexpected page: ${html.slice(0, 200)}`);
      }
    }
    requests += 1;
  }
  if (!code) throw new Error('login flow: no code after 20 steps');
  const token = await request(`${origin}/token`, {
    method: 'POST',
    headers: { authorization: basicAuth(webClient.client_id, webClient.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ grant_type: 'authorization_code', code, redirect_uri: server.redirectUri, code_verifier: verifier }),
  });
  requests += 1;
  if (token.status !== 200) throw new Error(`login flow: token endpoint HTTP ${token.status}: ${token.body.slice(0, 200)}`);
  const tokens = JSON.parse(token.body);
  if (!tokens.access_token || !tokens.refresh_token || !tokens.id_token) throw new Error(`login flow: incomplete token response: ${Object.keys(tokens)}`);
  return { tokens, requests };
}
