// gatehouse/verify with DPoP-bound access tokens (RFC 9449 §7): a real DPoP-bound JWT from
// a running Gatehouse (openid-client's DPoP handle), presented to a Koa and a node:http
// resource server, with openid-client's own proofs and with hand-made ones that differ
// from a good proof in exactly one thing.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import Koa from 'koa';
import { createVerifier, expressAccessToken, koaAccessToken, type VerifiedToken, type Verifier } from 'gatehouse/verify';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { forgedProofs, makeProof, proofKey, type ProofKey } from '../helpers/dpop.js';
import { oidc, registerClient, relyingParty } from '../helpers/oidc.js';

const API = 'https://shipments.example.com';

interface Running {
  url: string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<Running> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function koaServer(verifier: Verifier): Promise<Running> {
  const app = new Koa();
  app.use(koaAccessToken(verifier, { scopes: ['shipments:read'] }));
  app.use((ctx) => {
    const auth = ctx.state.auth as VerifiedToken;
    ctx.body = { sub: auth.claims.sub, jkt: auth.dpopJkt ?? null };
  });
  return listen(createServer(app.callback()));
}

function nodeServer(verifier: Verifier): Promise<Running> {
  const guard = expressAccessToken(verifier, { scopes: ['shipments:read'] });
  return listen(createServer((req, res) => {
    const request = req as IncomingMessage & { auth?: VerifiedToken };
    guard(request, res, (error?: unknown) => {
      if (error) {
        res.statusCode = 500;
        res.end();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ sub: request.auth!.claims.sub, jkt: request.auth!.dpopJkt ?? null }));
    });
  }));
}

describe('gatehouse/verify: DPoP-bound access tokens', () => {
  let app: TestApp;
  let config: oidc.Configuration;
  let keyPair: CryptoKeyPair;
  let key: ProofKey;
  let bound: string;
  let unbound: string;
  const rs: Record<'koa' | 'node', Running> = {} as never;

  beforeAll(async () => {
    app = await startApp();
    const admin = await adminToken(app);
    expect((await adminRequest(app, admin, 'POST', '/apis', { identifier: API, scopes: [{ name: 'shipments:read' }] })).status).toBe(201);
    const worker = await registerClient(app, {
      client_name: 'shipping worker', grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [],
      api_scopes: { [API]: ['shipments:read'] },
    });
    config = await relyingParty(app, worker);
    keyPair = await oidc.randomDPoPKeyPair('ES256', { extractable: true });
    key = { privateKey: keyPair.privateKey, publicKey: keyPair.publicKey, publicJwk: await exportJWK(keyPair.publicKey) };
    bound = (await oidc.clientCredentialsGrant(config, { resource: API, scope: 'shipments:read' }, { DPoP: oidc.getDPoPHandle(config, keyPair) })).access_token;
    unbound = (await oidc.clientCredentialsGrant(config, { resource: API, scope: 'shipments:read' })).access_token;
    const verifier = createVerifier({ issuer: app.issuer, audience: API });
    rs.koa = await koaServer(verifier);
    rs.node = await nodeServer(verifier);
  });
  afterAll(async () => {
    await Promise.all(Object.values(rs).map((server) => server.close()));
    await app.destroy();
  });

  async function call(server: Running, authorization: string, proof?: string, path = '/shipments?page=2') {
    const response = await fetch(`${server.url}${path}`, { headers: { authorization, ...(proof ? { dpop: proof } : {}) } });
    return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '', body: await response.json().catch(() => undefined) as any };
  }

  /** A 401 with a DPoP challenge naming `error`. */
  function expectDpopRefusal(response: { status: number; challenge: string; body: any }, error: 'invalid_token' | 'invalid_dpop_proof') {
    expect({ status: response.status, error: response.body?.error }).toEqual({ status: 401, error });
    expect(response.challenge).toMatch(new RegExp(`^DPoP realm="${API.replace(/\./g, '\\.')}", error="${error}", error_description="[^"]+", algs="[^"]*ES256`));
  }

  describe.each(['koa', 'node'] as const)('%s resource server', (kind) => {
    test('when openid-client calls with the bound token and its DPoP handle, then 200 with the key\'s thumbprint', async () => {
      const response = await oidc.fetchProtectedResource(config, bound, new URL(`${rs[kind].url}/shipments?page=1`), 'GET', undefined, undefined, {
        DPoP: oidc.getDPoPHandle(config, keyPair),
      });
      expect(response.status).toBe(200);
      const body = await response.json() as { sub: string; jkt: string };
      expect(body.jkt).toBe(await calculateJwkThumbprint(key.publicJwk));
    });

    test('when the bound token comes without a proof, then 401 invalid_dpop_proof', async () => {
      expectDpopRefusal(await call(rs[kind], `DPoP ${bound}`), 'invalid_dpop_proof');
    });

    test('when the bound token is sent as a plain Bearer token (with or without a proof), then 401 with a DPoP challenge', async () => {
      expectDpopRefusal(await call(rs[kind], `Bearer ${bound}`), 'invalid_token');
      const proof = await makeProof(key, { htm: 'GET', htu: `${rs[kind].url}/shipments`, accessToken: bound });
      expectDpopRefusal(await call(rs[kind], `Bearer ${bound}`, proof), 'invalid_token');
    });

    test('when an unbound token is sent with the DPoP scheme, then 401; as Bearer it passes', async () => {
      const proof = await makeProof(key, { htm: 'GET', htu: `${rs[kind].url}/shipments`, accessToken: unbound });
      expectDpopRefusal(await call(rs[kind], `DPoP ${unbound}`, proof), 'invalid_token');
      expect((await call(rs[kind], `Bearer ${unbound}`)).status).toBe(200);
    });

    test('when a hand-made proof is right, then 200 (the query string is not part of htu)', async () => {
      const proof = await makeProof(key, { htm: 'GET', htu: `${rs[kind].url}/shipments`, accessToken: bound });
      expect((await call(rs[kind], `DPoP ${bound}`, proof)).status).toBe(200);
    });

    test('when the proof differs from a good one in one thing, then 401 invalid_dpop_proof', async () => {
      const htu = `${rs[kind].url}/shipments`;
      const other = await proofKey();
      const now = Math.floor(Date.now() / 1000);
      const variants: Record<string, string> = {
        'another key': await makeProof(other, { htm: 'GET', htu, accessToken: bound }),
        'wrong htm': await makeProof(key, { htm: 'POST', htu, accessToken: bound }),
        'wrong htu path': await makeProof(key, { htm: 'GET', htu: `${rs[kind].url}/invoices`, accessToken: bound }),
        'wrong htu origin': await makeProof(key, { htm: 'GET', htu: 'https://shipments.example.org/shipments', accessToken: bound }),
        'stale iat': await makeProof(key, { htm: 'GET', htu, accessToken: bound, iat: now - 600 }),
        'iat in the future': await makeProof(key, { htm: 'GET', htu, accessToken: bound, iat: now + 600 }),
        'wrong ath': await makeProof(key, { htm: 'GET', htu, accessToken: unbound }),
        'no ath': await makeProof(key, { htm: 'GET', htu }),
      };
      for (const [name, proof] of Object.entries(variants)) {
        const response = await call(rs[kind], `DPoP ${bound}`, proof);
        expect({ name, status: response.status, error: response.body?.error }).toEqual({ name, status: 401, error: 'invalid_dpop_proof' });
      }
    });

    test('when a proof is replayed (same jti), then the first passes and the replay gets 401 invalid_dpop_proof', async () => {
      const proof = await makeProof(key, { htm: 'GET', htu: `${rs[kind].url}/shipments`, accessToken: bound, jti: randomUUID() });
      expect((await call(rs[kind], `DPoP ${bound}`, proof)).status).toBe(200);
      expectDpopRefusal(await call(rs[kind], `DPoP ${bound}`, proof), 'invalid_dpop_proof');
    });

    test('D5: when the proof is forged (alg none, HS256, no jwk, private jwk, bad signature…), then 401, never 5xx', async () => {
      const forged = await forgedProofs(key, { htm: 'GET', htu: `${rs[kind].url}/shipments`, accessToken: bound });
      for (const [name, proof] of Object.entries(forged)) {
        const response = await call(rs[kind], `DPoP ${bound}`, proof);
        expect({ name, status: response.status, error: response.body?.error }).toEqual({ name, status: 401, error: 'invalid_dpop_proof' });
      }
    });
  });

  test('when verify() is called without the request, then a bound token is refused', async () => {
    const verifier = createVerifier({ issuer: app.issuer, audience: API });
    await expect(verifier.verify(bound)).rejects.toMatchObject({ code: 'invalid_token', scheme: 'DPoP' });
    await expect(verifier.verify(unbound)).resolves.toMatchObject({ claims: expect.objectContaining({ aud: API }) });
  });
});
