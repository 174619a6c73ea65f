// Behind a TLS-terminating proxy (https issuer, TRUST_PROXY=true): cookies are Secure and
// the session cookie is origin-bound with the __Host- prefix (checklist E1).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { PASSWORD, authRequest, createUser, oidc, registerClient } from '../helpers/oidc.js';

describe('behind a TLS-terminating proxy', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp({ env: { ISSUER: 'https://id.example.test', TRUST_PROXY: 'true' } });
  });
  afterAll(async () => {
    await app.destroy();
  });

  test('when a browser signs in through the proxy, then every cookie is Secure, HttpOnly, SameSite and the session cookie is __Host-', async () => {
    const user = await createUser(app);
    const client = await registerClient(app, { first_party: true });
    // Discovery is served by this instance; the proxy would add the forwarded headers.
    const metadata = await fetch(`${app.origin}/.well-known/openid-configuration`, { headers: { 'x-forwarded-proto': 'https' } }).then((r) => r.json());
    expect(metadata.issuer).toBe('https://id.example.test');
    const config = new oidc.Configuration(metadata, client.clientId, undefined, oidc.ClientSecretBasic(client.clientSecret!));
    const request = await authRequest(config);

    const cookies: string[] = [];
    const viaProxy = async (url: string, init: RequestInit = {}) => {
      const target = new URL(url, app.issuer);
      const response = await fetch(`${app.origin}${target.pathname}${target.search}`, {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string>), 'x-forwarded-proto': 'https', cookie: cookies.map((c) => c.split(';')[0]).join('; ') },
      });
      cookies.push(...response.headers.getSetCookie());
      return response;
    };
    const start = await viaProxy(request.url.toString());
    expect(start.status).toBe(303);
    const page = await viaProxy(start.headers.get('location')!);
    const html = await page.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const action = /action="([^"]+\/login)"/.exec(html)![1]!;
    const login = await viaProxy(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, login: user.email, password: PASSWORD }).toString(),
    });
    expect(login.status).toBe(303);
    const resumed = await viaProxy(login.headers.get('location')!);
    expect(resumed.status).toBe(303);

    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) {
      expect(cookie).toMatch(/;\s*secure/i);
      expect(cookie).toMatch(/;\s*httponly/i);
      expect(cookie).toMatch(/;\s*samesite=(lax|strict)/i);
    }
    const session = cookies.find((cookie) => cookie.startsWith('__Host-session='));
    expect(session).toBeDefined();
    expect(session).toMatch(/;\s*path=\//i);
    expect(session).not.toMatch(/domain=/i);
  });
});
