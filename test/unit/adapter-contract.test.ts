import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Adapter } from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import { createAdapterClass } from '../../src/oidc/adapter.js';
import { adapterContract } from '../helpers/adapter-contract.js';
import { startApp, usingPostgres, type TestApp } from '../helpers/app.js';
import { UNUSED_REGISTRATION } from '../helpers/oidc.js';

let app: TestApp;
let Gatehouse: new (name: string) => Adapter;

beforeAll(async () => {
  app = await startApp();
  const { services } = app.app;
  Gatehouse = createAdapterClass({ payloads: services.stores.payloads, secretBox: services.secretBox, findClient: async () => undefined, registeredClients: UNUSED_REGISTRATION });
});
afterAll(async () => {
  await app.destroy();
});

adapterContract({
  name: `Gatehouse Prisma adapter on ${usingPostgres ? 'PostgreSQL' : 'PGlite'}`,
  adapterFor: (model) => new Gatehouse(model),
  atomicConsume: true,
});

const memory = (createMemoryAdapter as (tolerance?: number) => (model: string) => Adapter)();
adapterContract({
  name: 'oidc-provider memory adapter (proves the suite)',
  adapterFor: (model) => memory(model),
  atomicConsume: false,
});

describe('Gatehouse adapter storage', () => {
  test('when bearer artifacts are stored, then their values appear nowhere in the table, yet they are found', async () => {
    const codes = new Gatehouse('AuthorizationCode');
    const sessions = new Gatehouse('Session');
    const code = 'code-value-' + 'x'.repeat(30);
    const session = 'session-value-' + 'y'.repeat(30);
    await codes.upsert(code, { jti: code, kind: 'AuthorizationCode', grantId: 'g-1' }, 60);
    await sessions.upsert(session, { jti: session, kind: 'Session', uid: 'uid-1' }, 60);
    const rows = await app.db.prisma.oidcPayload.findMany();
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(code);
    expect(dump).not.toContain(session);
    expect(await codes.find(code)).toMatchObject({ jti: code });
    expect(await sessions.findByUid('uid-1')).toMatchObject({ jti: session });
  });

  test('when artifacts have expired, then the purge deletes exactly those rows', async () => {
    const grants = new Gatehouse('Grant');
    await grants.upsert('purge-me', { jti: 'purge-me', kind: 'Grant' }, 1);
    await grants.upsert('keep-me', { jti: 'keep-me', kind: 'Grant' }, 600);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await app.app.services.stores.payloads.purgeExpired()).toBeGreaterThanOrEqual(1);
    const left = await app.db.prisma.oidcPayload.findMany({ where: { model: 'Grant', id: { in: ['purge-me', 'keep-me'] } }, select: { id: true } });
    expect(left.map((row) => row.id)).toEqual(['keep-me']);
  });
});
