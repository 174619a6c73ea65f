// Which database failures become 503 with Retry-After (the database is unavailable right
// now; the same request later can succeed) rather than 500. The error shapes are the
// ones Prisma 6 and pg produce, captured against a real PostgreSQL.
import { describe, expect, test } from '@jest/globals';
import { Prisma } from '@prisma/client';
import { isDatabaseUnavailable } from '../../src/db/errors.js';

/** A failed raw query as Prisma 6 reports it with the pg driver adapter. */
function rawQueryFailure(cause: { code: string; message: string }): Prisma.PrismaClientKnownRequestError {
  const adapterError = Object.assign(new Error(cause.message), {
    name: 'DriverAdapterError',
    cause: { originalCode: cause.code, originalMessage: cause.message, kind: 'postgres', code: cause.code, severity: 'ERROR', message: cause.message },
  });
  return new Prisma.PrismaClientKnownRequestError(
    `\nInvalid \`prisma.$queryRaw()\` invocation:\n\n\nRaw query failed. Code: \`${cause.code}\`. Message: \`${cause.message}\``,
    { code: 'P2010', clientVersion: Prisma.prismaVersion.client, meta: { driverAdapterError: adapterError } },
  );
}

describe('isDatabaseUnavailable', () => {
  test('when PostgreSQL cancels a statement at statement_timeout (57014, e.g. behind a long lock), then it is unavailable', () => {
    expect(isDatabaseUnavailable(rawQueryFailure({ code: '57014', message: 'canceling statement due to statement timeout' }))).toBe(true);
    // The same from pg directly (the readiness ping, migrations).
    expect(isDatabaseUnavailable(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014', severity: 'ERROR' }))).toBe(true);
  });

  test('when no pooled connection is free within the connect timeout, or a new one cannot be opened in time, then it is unavailable', () => {
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated due to connection timeout', { cause: new Error('Connection terminated unexpectedly') }))).toBe(true);
  });

  test('when an answer does not arrive within the client-side deadline (pg query_timeout), then it is unavailable', () => {
    expect(isDatabaseUnavailable(new Error('Query read timeout'))).toBe(true);
  });

  test('when the driver adapter error in Prisma\'s meta carries a connection-class SQLSTATE, then it is unavailable', () => {
    expect(isDatabaseUnavailable(rawQueryFailure({ code: '57P01', message: 'terminating connection due to administrator command' }))).toBe(true);
    expect(isDatabaseUnavailable(rawQueryFailure({ code: '08006', message: 'connection failure' }))).toBe(true);
  });

  test('when a query itself is at fault, then it is not unavailable (it stays a 4xx or 500)', () => {
    expect(isDatabaseUnavailable(rawQueryFailure({ code: '23505', message: 'duplicate key value violates unique constraint "users_email_key"' }))).toBe(false);
    expect(isDatabaseUnavailable(rawQueryFailure({ code: '42601', message: 'syntax error at or near "SELEC"' }))).toBe(false);
    // 57014's class neighbours that are not a cancelled statement.
    expect(isDatabaseUnavailable(rawQueryFailure({ code: '57000', message: 'operator intervention' }))).toBe(false);
    expect(isDatabaseUnavailable(new Prisma.PrismaClientKnownRequestError('Unique constraint failed', { code: 'P2002', clientVersion: Prisma.prismaVersion.client }))).toBe(false);
    expect(isDatabaseUnavailable(new Error('boom'))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });
});
