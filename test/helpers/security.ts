// Helpers for the security suites (test/security/): silent authentication, the app's own
// log file read back as JSON lines, a dump of every table, and raw HTTP for methods
// fetch refuses to send (TRACE).
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { TestApp } from './app.js';
import type { Browser } from './browser.js';
import { authRequest, type oidc } from './oidc.js';

/** prompt=none from `browser`: the code or the error the client gets back. */
export async function silentAuth(browser: Browser, app: TestApp, config: oidc.Configuration): Promise<{ code: string | null; error: string | null }> {
  const request = await authRequest(config, { prompt: 'none' });
  const hop = await browser.follow(request.url.toString(), app.issuer);
  if (!hop.location) throw new Error(`prompt=none did not redirect to the client (status ${hop.status}): ${hop.body.slice(0, 200)}`);
  const back = new URL(hop.location);
  return { code: back.searchParams.get('code'), error: back.searchParams.get('error') };
}

/** The session cookies (`_session`, `_session.sig`, or `__Host-session…`) a browser holds for the issuer. */
export async function sessionCookies(browser: Browser, app: TestApp): Promise<Array<{ key: string; value: string }>> {
  return (await browser.jar.getCookies(app.issuer))
    .filter((cookie) => /^(_session|__Host-session)(\.sig)?$/.test(cookie.key))
    .map((cookie) => ({ key: cookie.key, value: cookie.value }));
}

/** Puts cookies into a jar as an attacker would: no expiry, Path=/. */
export async function plantCookies(browser: Browser, app: TestApp, cookies: Array<{ key: string; value: string }>): Promise<void> {
  for (const cookie of cookies) await browser.jar.setCookie(`${cookie.key}=${cookie.value}; Path=/`, app.issuer);
}

export interface LogLine {
  level: number;
  time: string;
  msg?: string;
  [field: string]: unknown;
}

/** The app's log file, raw. Fails when the run does not collect logs. */
export async function readLogText(app: TestApp): Promise<string> {
  if (!app.logFile) throw new Error('this run does not collect app logs (GATEHOUSE_TEST_LOG_DIR is not set by the global setup)');
  return readFile(app.logFile, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? '' : Promise.reject(error)));
}

/** Every line of the app's log parsed as JSON; a line that does not parse throws, naming it. */
export async function readLog(app: TestApp): Promise<LogLine[]> {
  const text = await readLogText(app);
  return text.split('\n').filter(Boolean).map((line, index) => {
    try {
      return JSON.parse(line) as LogLine;
    } catch {
      throw new Error(`log line ${index + 1} is not JSON: ${line.slice(0, 300)}`);
    }
  });
}

/** Waits (up to `timeoutMs`) for log lines matching `predicate`; returns all that match. */
export async function waitForLog(app: TestApp, predicate: (line: LogLine) => boolean, timeoutMs = 3000): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await readLog(app)).filter(predicate);
    if (found.length || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every row of every table of the app's schema, as JSON text (bigint as text, bytes as hex and base64url). */
export async function dumpDatabase(app: TestApp): Promise<{ tables: string[]; text: string }> {
  const prisma = app.db.prisma;
  const tables = (await prisma.$queryRawUnsafe<Array<{ tablename: string }>>(
    'SELECT tablename::text AS tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename',
  )).map((row) => row.tablename);
  const dump: Record<string, unknown[]> = {};
  for (const table of tables) dump[table] = await prisma.$queryRawUnsafe<unknown[]>(`SELECT * FROM "${table.replace(/"/g, '""')}"`);
  const text = JSON.stringify(dump, (_key, value: unknown) => {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Uint8Array) return `${Buffer.from(value).toString('hex')} ${Buffer.from(value).toString('base64url')}`;
    if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
      const bytes = Buffer.from((value as { data: number[] }).data);
      return `${bytes.toString('hex')} ${bytes.toString('base64url')}`;
    }
    return value;
  });
  return { tables, text };
}

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request over node:http (any method, TRACE included), no redirect followed. */
export function rawRequest(url: string, method: string, headers: Record<string, string> = {}, body?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, agent: false, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
