// Discovery and the JWKS are replayed from memory (src/http/published-documents.ts): the
// replay must be the document oidc-provider serves, and a key rotation must reach it at once.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminToken, adminRequest } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';

let app: TestApp;
beforeAll(async () => {
  app = await startApp();
});
afterAll(async () => {
  await app.destroy();
});

const DOCUMENT_HEADERS = ['content-type', 'vary', 'access-control-allow-origin', 'x-content-type-options', 'cache-control', 'etag'];
const documentHeaders = (response: Response) => Object.fromEntries(DOCUMENT_HEADERS.map((name) => [name, response.headers.get(name)]));

describe('discovery and JWKS replayed from memory', () => {
  test.each(['/.well-known/openid-configuration', '/jwks'])('when %s is fetched repeatedly, then every answer has the same bytes and headers as the one built by oidc-provider, with its own request id', async (path) => {
    // A cross-origin request always goes the full way: it is the reference.
    const reference = await fetch(`${app.origin}${path}`, { headers: { Origin: 'https://rp.example' } });
    expect(reference.status).toBe(200);
    expect(reference.headers.get('access-control-allow-origin')).toBe('https://rp.example');
    const referenceBody = await reference.text();
    const answers = [];
    for (let i = 0; i < 3; i += 1) answers.push(await fetch(`${app.origin}${path}`));
    const bodies = await Promise.all(answers.map((answer) => answer.text()));
    expect(bodies).toEqual([referenceBody, referenceBody, referenceBody]);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(documentHeaders(answer)).toEqual({ ...documentHeaders(reference), 'access-control-allow-origin': '*' });
    }
    const requestIds = answers.map((answer) => answer.headers.get('x-request-id'));
    expect(new Set(requestIds).size).toBe(3);
    expect(JSON.parse(referenceBody)).toBeInstanceOf(Object);
  });

  test('when a verifier revalidates its cached JWKS with the ETag, then 304 comes back with no body', async () => {
    const first = await fetch(`${app.origin}/jwks`);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]+"$/);
    // fetch() adds `Cache-Control: no-cache` to conditional requests unless one is given;
    // max-age=0 is what a cache revalidating a stale entry sends.
    const revalidated = await fetch(`${app.origin}/jwks`, { headers: { 'If-None-Match': etag!, 'Cache-Control': 'max-age=0' } });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('etag')).toBe(etag);
    expect(await revalidated.text()).toBe('');
  });

  test('when keys are rotated, then the very next JWKS answer is the new key set, with a new ETag', async () => {
    const before = await fetch(`${app.origin}/jwks`);
    const beforeEtag = before.headers.get('etag');
    const beforeKids = ((await before.json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
    const token = await adminToken(app);
    const rotated = await adminRequest<{ items: { kid: string; status: string }[] }>(app, token, 'POST', '/keys/rotate');
    expect(rotated.status).toBe(200);
    const listed = rotated.body.items.map((key) => key.kid);
    // The rotation brought in at least one key the JWKS did not publish before.
    expect(listed.filter((kid) => !beforeKids.includes(kid)).length).toBeGreaterThan(0);
    const after = await fetch(`${app.origin}/jwks`);
    const afterKids = ((await after.json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
    expect(afterKids.sort()).toEqual([...listed].sort());
    expect(after.headers.get('etag')).not.toBe(beforeEtag);
    // A verifier holding the old ETag gets the new set, not a 304.
    expect((await fetch(`${app.origin}/jwks`, { headers: { 'If-None-Match': beforeEtag!, 'Cache-Control': 'max-age=0' } })).status).toBe(200);
  });

  test('when the documents are asked for with a query string or by HEAD, then they are still answered correctly', async () => {
    const withQuery = await fetch(`${app.origin}/.well-known/openid-configuration?x=1`);
    expect(withQuery.status).toBe(200);
    expect(((await withQuery.json()) as { issuer: string }).issuer).toBe(app.issuer);
    const head = await fetch(`${app.origin}/jwks`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^application\/jwk-set\+json/);
  });
});
