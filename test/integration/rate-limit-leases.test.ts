// Leases on high rate limits (src/security/rate-limits.ts): an instance takes a share of
// a busy limit's window from the shared counter and hands it out from memory. Checked on
// the real counter store, with two RateLimits objects standing for two instances.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Counters } from '../../src/security/counters.js';
import { RateLimits, counterKey, leaseSize, type LimitRule } from '../../src/security/rate-limits.js';
import { startApp, type TestApp } from '../helpers/app.js';

let app: TestApp;
beforeAll(async () => {
  app = await startApp();
});
afterAll(async () => {
  await app.destroy();
});

/** The app's own counter store, with its hits counted. */
function countingStore(): { counters: Counters; calls: () => number } {
  const store = app.app.services.counters;
  let calls = 0;
  const counters: Counters = {
    ...store,
    hit: (entries) => {
      calls += 1;
      return store.hit(entries);
    },
    peek: (key) => {
      calls += 1;
      return store.peek(key);
    },
  };
  return { counters, calls: () => calls };
}

const rule = (max: number): LimitRule => ({ name: `lease-test-${randomUUID()}`, max, windowSeconds: 60 });

describe('rate-limit leases', () => {
  test('when a limit is under 100, then every request is one hit on the shared store (counted exactly)', async () => {
    const { counters, calls } = countingStore();
    const limits = new RateLimits(counters);
    const small = rule(60);
    expect(leaseSize(small)).toBe(1);
    const decisions = [];
    for (let i = 0; i < 62; i += 1) decisions.push(await limits.take([{ rule: small, subject: 'client-a' }]));
    expect(calls()).toBe(62);
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(60);
    expect(decisions.at(-1)).toMatchObject({ allowed: false, remaining: 0 });
  });

  test('when a busy limit is taken 500 times, then the shared store is asked once per lease, not once per request', async () => {
    const { counters, calls } = countingStore();
    const limits = new RateLimits(counters);
    const busy = rule(100_000);
    const size = leaseSize(busy);
    expect(size).toBe(100);
    for (let i = 0; i < 500; i += 1) expect((await limits.take([{ rule: busy, subject: 'client-a' }])).allowed).toBe(true);
    expect(calls()).toBe(500 / size);
    // The shared counter holds exactly what was leased.
    expect((await app.app.services.counters.peek(counterKey(busy.name, 'client-a')))?.hits).toBe(500);
  });

  test('when 64 requests arrive at once with no lease, then one lease is taken for all of them', async () => {
    const { counters, calls } = countingStore();
    const limits = new RateLimits(counters);
    const busy = rule(5_000);
    const decisions = await Promise.all(Array.from({ length: 64 }, () => limits.take([{ rule: busy, subject: 'client-b' }])));
    expect(decisions.every((decision) => decision.allowed)).toBe(true);
    expect(calls()).toBe(1);
  });

  test('when two instances share a limit of 200 and 300 requests alternate between them, then at most 200 pass and at most two leases go unused', async () => {
    const first = new RateLimits(app.app.services.counters);
    const second = new RateLimits(app.app.services.counters);
    const shared = rule(200);
    let allowed = 0;
    for (let i = 0; i < 300; i += 1) {
      const decision = await (i % 2 ? second : first).take([{ rule: shared, subject: 'client-c' }]);
      if (decision.allowed) allowed += 1;
      else expect(decision.resetSeconds).toBeGreaterThan(0);
    }
    expect(allowed).toBeLessThanOrEqual(200);
    expect(allowed).toBeGreaterThanOrEqual(200 - 2 * (leaseSize(shared) - 1));
  });

  test('when both instances race 400 concurrent requests at a limit of 200, then never more than 200 pass', async () => {
    const first = new RateLimits(app.app.services.counters);
    const second = new RateLimits(app.app.services.counters);
    const shared = rule(200);
    const decisions = await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 2 ? second : first).take([{ rule: shared, subject: 'client-d' }])));
    const allowed = decisions.filter((decision) => decision.allowed).length;
    expect(allowed).toBeLessThanOrEqual(200);
    expect(allowed).toBeGreaterThanOrEqual(200 - 2 * (leaseSize(shared) - 1));
  });

  test('when a busy limit is spent, then further requests are refused from memory until the window closes', async () => {
    const { counters, calls } = countingStore();
    const limits = new RateLimits(counters);
    const spent = rule(100);
    for (let i = 0; i < 100; i += 1) expect((await limits.take([{ rule: spent, subject: 'client-e' }])).allowed).toBe(true);
    const before = calls();
    const refusals = [];
    for (let i = 0; i < 20; i += 1) refusals.push(await limits.take([{ rule: spent, subject: 'client-e' }]));
    expect(refusals.every((decision) => !decision.allowed && decision.remaining === 0 && decision.resetSeconds >= 1)).toBe(true);
    expect(calls() - before).toBeLessThanOrEqual(1);
  });

  test('when a busy limit is peeked and charged, then a peek takes nothing and a charge draws on the lease', async () => {
    const { counters, calls } = countingStore();
    const limits = new RateLimits(counters);
    const busy = rule(1_000);
    const size = leaseSize(busy);
    expect((await limits.peek(busy, 'client-f')).allowed).toBe(true);
    await limits.charge(busy, 'client-f');
    const afterFirstCharge = calls();
    for (let i = 1; i < size; i += 1) {
      const peeked = await limits.peek(busy, 'client-f');
      expect(peeked.allowed).toBe(true);
      await limits.charge(busy, 'client-f');
    }
    // The whole lease was handed out by peeks and charges without asking the store again.
    expect(calls()).toBe(afterFirstCharge);
    // With the lease used up, a peek is answered from the total seen when it was taken.
    expect((await limits.peek(busy, 'client-f')).remaining).toBe(1_000 - size - 1);
    expect(calls()).toBe(afterFirstCharge);
    // The next charge takes a new lease: one call.
    await limits.charge(busy, 'client-f');
    expect(calls()).toBe(afterFirstCharge + 1);
  });
});
