// Group commit of artifact writes and lookups (src/db/batcher.ts, src/stores/oidc-payloads.ts):
// concurrent calls share statements, yet each caller gets exactly its own result, and one
// bad row cannot fail the rows batched with it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createBatcher } from '../../src/db/batcher.js';
import type { PayloadWrite } from '../../src/stores/oidc-payloads.js';
import { startApp, type TestApp } from '../helpers/app.js';

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('batcher', () => {
  test('when one call arrives at an idle batcher, then it goes out at once, alone', async () => {
    const batches: number[][] = [];
    const call = createBatcher<number, number>({ run: async (items) => (batches.push(items), items.map((item) => item * 2)), inFlight: 2, maxBatch: 10, retrySingly: () => true });
    expect(await call(21)).toBe(42);
    expect(batches).toEqual([[21]]);
  });

  test('when calls are made together (as with Promise.all), then they share one statement and each gets its own answer', async () => {
    const batches: number[][] = [];
    const call = createBatcher<number, number>({ run: async (items) => (batches.push(items), items.map((item) => item * 2)), inFlight: 2, maxBatch: 30, retrySingly: () => true });
    expect(await Promise.all([call(1), call(2), call(3)])).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
    // More than a statement may carry: split, in order.
    batches.length = 0;
    const results = await Promise.all(Array.from({ length: 50 }, (_, index) => call(index)));
    expect(results).toEqual(Array.from({ length: 50 }, (_, index) => index * 2));
    expect(batches.map((batch) => batch.length)).toEqual([30, 20]);
  });

  test('when calls arrive one by one while every slot is busy, then they wait and go out together in the next statement', async () => {
    const batches: number[][] = [];
    // Statements finish only when the test says so: no timing involved.
    const releases: Array<() => void> = [];
    const call = createBatcher<number, number>({
      run: async (items) => {
        batches.push(items);
        await new Promise<void>((resolve) => releases.push(resolve));
        return items.map((item) => item * 2);
      },
      inFlight: 2,
      maxBatch: 30,
      retrySingly: () => true,
    });
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    const calls = [call(100)];
    await nextTurn();
    calls.push(call(101));
    await nextTurn();
    for (let index = 0; index < 10; index += 1) {
      calls.push(call(index));
      await nextTurn();
    }
    // Both slots are taken; the ten later calls wait.
    expect(batches).toEqual([[100], [101]]);
    releases.shift()!();
    await nextTurn();
    expect(batches).toEqual([[100], [101], Array.from({ length: 10 }, (_, index) => index)]);
    while (releases.length) releases.shift()!();
    expect(await Promise.all(calls)).toEqual([200, 202, ...Array.from({ length: 10 }, (_, index) => index * 2)]);
  });

  test('when a batch fails for one bad item, then the others are retried alone and succeed, and only the bad one fails', async () => {
    const call = createBatcher<number, number>({
      run: async (items) => {
        await later(5);
        if (items.includes(13)) throw new Error('bad item');
        return items;
      },
      inFlight: 1,
      maxBatch: 10,
      retrySingly: () => true,
    });
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, index) => call(index)));
    expect(results.filter((result) => result.status === 'rejected')).toHaveLength(1);
    expect((results[13] as PromiseRejectedResult).reason).toEqual(new Error('bad item'));
    expect(results.filter((result) => result.status === 'fulfilled').map((result) => (result as PromiseFulfilledResult<number>).value)).toEqual(
      Array.from({ length: 20 }, (_, index) => index).filter((index) => index !== 13),
    );
  });

  test('when the failure is one every retry would repeat (an outage), then the batch fails as a whole without retries', async () => {
    let runs = 0;
    const call = createBatcher<number, number>({
      run: async () => {
        runs += 1;
        await later(5);
        throw new Error('database down');
      },
      inFlight: 1,
      maxBatch: 10,
      retrySingly: () => false,
    });
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, index) => call(index)));
    expect(results.every((result) => result.status === 'rejected')).toBe(true);
    // The six calls shared one statement, and nothing was tried again.
    expect(runs).toBe(1);
  });
});

describe('batched artifact store', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    await app.destroy();
  });

  const write = (id: string, payload: Record<string, unknown>): PayloadWrite => ({
    model: 'AccessToken', id, payload, grantId: `grant-${id}`, accountId: null, clientId: 'batch-client', uid: null, userCode: null, expiresIn: 60,
  });

  test('when 200 artifacts are stored and read back concurrently, then every one is found with its own payload, and unknown ids are not', async () => {
    const store = app.app.services.stores.payloads;
    const ids = Array.from({ length: 200 }, (_, index) => `batch-${index}`);
    await Promise.all(ids.map((id) => store.upsert(write(id, { jti: id, n: id.length }))));
    const found = await Promise.all([...ids, 'batch-missing'].map((id) => store.find('AccessToken', id)));
    expect(found.slice(0, 200).map((row) => row?.payload.jti)).toEqual(ids);
    expect(found[200]).toBeUndefined();
    const row = await app.db.prisma.oidcPayload.findFirst({ where: { model: 'AccessToken', id: 'batch-7' } });
    expect(row).toMatchObject({ grantId: 'grant-batch-7', clientId: 'batch-client' });
    expect(row!.expiresAt!.getTime()).toBeGreaterThan(Date.now());
  });

  test('when one artifact is written twice in the same batch, then the later write wins and both calls succeed', async () => {
    const store = app.app.services.stores.payloads;
    // Made together, the writes below go out in one statement.
    const busy = Array.from({ length: 4 }, (_, index) => store.upsert(write(`filler-${index}`, { jti: `filler-${index}` })));
    const writes = [store.upsert(write('twice', { version: 1 })), store.upsert(write('twice', { version: 2 }))];
    await Promise.all([...busy, ...writes]);
    expect((await store.find('AccessToken', 'twice'))?.payload).toEqual({ version: 2 });
  });

  test('when a row PostgreSQL refuses is batched with good ones, then only that write fails and the others are stored', async () => {
    const store = app.app.services.stores.payloads;
    // jsonb cannot hold U+0000: PostgreSQL refuses the whole statement.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, index) => store.upsert(write(`mixed-${index}`, index === 5 ? { bad: 'nul\u0000byte' } : { jti: `mixed-${index}` }))),
    );
    expect(outcomes.map((outcome) => outcome.status)).toEqual(Array.from({ length: 12 }, (_, index) => (index === 5 ? 'rejected' : 'fulfilled')));
    const found = await Promise.all(Array.from({ length: 12 }, (_, index) => store.find('AccessToken', `mixed-${index}`)));
    expect(found.map((row) => row?.payload.jti ?? null)).toEqual(Array.from({ length: 12 }, (_, index) => (index === 5 ? null : `mixed-${index}`)));
  });
});
