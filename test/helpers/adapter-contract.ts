// The storage contract every oidc-provider adapter Gatehouse may use must keep. One suite,
// run against Gatehouse's Prisma adapter (on PGlite and on PostgreSQL) and against
// oidc-provider's own memory adapter, which proves the suite tests the contract and not
// our implementation's quirks.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import type { Adapter, AdapterPayload } from 'oidc-provider';

export interface ContractOptions {
  name: string;
  adapterFor(model: string): Adapter;
  /** Whether consume() rejects all but one concurrent caller (required of Gatehouse's adapter). */
  atomicConsume: boolean;
}

const id = () => randomBytes(24).toString('base64url');
const epoch = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function adapterContract(options: ContractOptions): void {
  const { adapterFor } = options;

  describe(`adapter contract: ${options.name}`, () => {
    test('when a payload is upserted, then find returns it with its jti', async () => {
      const adapter = adapterFor('AccessToken');
      const jti = id();
      const payload: AdapterPayload = { jti, kind: 'AccessToken', accountId: 'a1', clientId: 'c1', grantId: id(), iat: epoch(), exp: epoch() + 60, scope: 'openid' };
      await adapter.upsert(jti, payload, 60);
      expect(await adapter.find(jti)).toMatchObject(payload);
    });

    test('when an id was never stored, then find returns undefined', async () => {
      expect(await adapterFor('AuthorizationCode').find(id())).toBeUndefined();
      expect(await adapterFor('Session').findByUid(id())).toBeUndefined();
      expect(await adapterFor('DeviceCode').findByUserCode('XXXX-YYYY')).toBeUndefined();
    });

    test('when a payload is upserted twice, then the second version wins', async () => {
      const adapter = adapterFor('Grant');
      const jti = id();
      await adapter.upsert(jti, { jti, kind: 'Grant', accountId: 'a1', clientId: 'c1', openid: { scope: 'openid' } }, 60);
      await adapter.upsert(jti, { jti, kind: 'Grant', accountId: 'a1', clientId: 'c1', openid: { scope: 'openid email' } }, 60);
      expect(await adapter.find(jti)).toMatchObject({ openid: { scope: 'openid email' } });
    });

    test('when a session is stored, then it is found by its uid with its id', async () => {
      const adapter = adapterFor('Session');
      const jti = id();
      const uid = id();
      await adapter.upsert(jti, { jti, kind: 'Session', uid, accountId: 'a1', loginTs: epoch() }, 60);
      expect(await adapter.findByUid(uid)).toMatchObject({ jti, uid, accountId: 'a1' });
    });

    test('when a device code is stored, then it is found by its user code', async () => {
      const adapter = adapterFor('DeviceCode');
      const jti = id();
      await adapter.upsert(jti, { jti, kind: 'DeviceCode', userCode: 'BCDF-GHJK', clientId: 'c1', grantId: id() }, 60);
      expect(await adapter.findByUserCode('BCDF-GHJK')).toMatchObject({ jti, userCode: 'BCDF-GHJK' });
    });

    test('when an artifact is destroyed, then it is gone', async () => {
      const adapter = adapterFor('RefreshToken');
      const jti = id();
      await adapter.upsert(jti, { jti, kind: 'RefreshToken', grantId: id() }, 60);
      await adapter.destroy(jti);
      expect(await adapter.find(jti)).toBeUndefined();
    });

    test('when an artifact is consumed, then find reports it consumed', async () => {
      const adapter = adapterFor('AuthorizationCode');
      const jti = id();
      await adapter.upsert(jti, { jti, kind: 'AuthorizationCode', grantId: id() }, 60);
      expect((await adapter.find(jti))?.consumed).toBeFalsy();
      await adapter.consume(jti);
      expect((await adapter.find(jti))?.consumed).toEqual(expect.any(Number));
    });

    test('when a grant is revoked, then that grant\'s artifacts of the model are gone and others stay', async () => {
      const adapter = adapterFor('AccessToken');
      const grantId = id();
      const [a, b, other] = [id(), id(), id()];
      await adapter.upsert(a, { jti: a, kind: 'AccessToken', grantId }, 60);
      await adapter.upsert(b, { jti: b, kind: 'AccessToken', grantId }, 60);
      await adapter.upsert(other, { jti: other, kind: 'AccessToken', grantId: id() }, 60);
      await adapter.revokeByGrantId(grantId);
      expect(await adapter.find(a)).toBeUndefined();
      expect(await adapter.find(b)).toBeUndefined();
      expect(await adapter.find(other)).toBeDefined();
    });

    test('when an artifact outlives its expiry, then find no longer returns it', async () => {
      const adapter = adapterFor('Interaction');
      const jti = id();
      await adapter.upsert(jti, { jti, kind: 'Interaction', exp: epoch() + 1 }, 1);
      expect(await adapter.find(jti)).toBeDefined();
      await sleep(1_100);
      expect(await adapter.find(jti)).toBeUndefined();
    });

    if (options.atomicConsume) {
      test('when 20 requests consume one code at once, then exactly one succeeds and the grant is revoked', async () => {
        const codes = adapterFor('AuthorizationCode');
        const tokens = adapterFor('AccessToken');
        const grantId = id();
        const code = id();
        const token = id();
        await codes.upsert(code, { jti: code, kind: 'AuthorizationCode', grantId }, 60);
        await tokens.upsert(token, { jti: token, kind: 'AccessToken', grantId }, 60);
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => codes.consume(code)));
        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
        expect(rejected).toHaveLength(19);
        expect(rejected[0]!.reason).toMatchObject({ error: 'invalid_grant' });
        // A reuse means the code leaked: everything issued from its grant is revoked.
        expect(await tokens.find(token)).toBeUndefined();
      });
    }
  });
}
