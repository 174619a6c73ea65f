// Raw HTTP for the protocol suites: one request, no redirect followed, and the answer kept
// whole (status, headers, text and the body parsed as a JSON object when it is one), so
// every status, header and Location is visible to the test.
import { expect } from '@jest/globals';

/** A form body: fields, ordered pairs (repeated names allowed), or an already-encoded string. */
export type Form = Record<string, string> | Array<[string, string]> | string;

export interface Reply<B extends Record<string, unknown> = Record<string, unknown>> {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or undefined when the body is not a JSON object. */
  body: B | undefined;
}

export interface CallInit {
  /** Defaults to GET without a body and POST with one. */
  method?: string | undefined;
  /** An application/x-www-form-urlencoded body; wins over `json` and `raw`. */
  form?: Form | undefined;
  /** An application/json body; wins over `raw`. */
  json?: unknown;
  /** A body sent as is (set its type with `contentType`). */
  raw?: string | undefined;
  /** Content-Type to send, replacing the one `form` or `json` implies. */
  contentType?: string | undefined;
  /** Client credentials for an HTTP Basic Authorization header. */
  basic?: [string, string] | undefined;
  /** An access token for a Bearer Authorization header; replaces `basic`. */
  bearer?: string | undefined;
  /** An Authorization header sent as is; replaces `basic` and `bearer`. */
  authorization?: string | undefined;
  /** Further request headers (the ones above take precedence). */
  headers?: Record<string, string> | undefined;
}

export function encodeForm(form: Form): string {
  return typeof form === 'string' ? form : new URLSearchParams(form).toString();
}

/** HTTP Basic credentials as RFC 6749 §2.3.1 wants them: form-encoded, then base64. */
export function basicHeader(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** The body as a JSON object, or undefined when it is not JSON or not an object. */
export function parseJsonObject<B extends Record<string, unknown> = Record<string, unknown>>(text: string): B | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as B;
  } catch {
    return undefined;
  }
  return undefined;
}

/** Every member name in a JSON value, at any depth (array items included). */
export function collectKeys(value: unknown, keys: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((item) => collectKeys(item, keys));
  else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      keys.push(key);
      collectKeys(child, keys);
    }
  }
  return keys;
}

/** One request with redirect: 'manual'; the answer read in full. */
export async function call<B extends Record<string, unknown> = Record<string, unknown>>(url: string, init: CallInit = {}): Promise<Reply<B>> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.form !== undefined) {
    body = encodeForm(init.form);
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  } else if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers['content-type'] ??= 'application/json';
  } else if (init.raw !== undefined) {
    body = init.raw;
  }
  if (init.contentType !== undefined) headers['content-type'] = init.contentType;
  if (init.basic) headers.authorization = basicHeader(...init.basic);
  if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`;
  if (init.authorization !== undefined) headers.authorization = init.authorization;
  const response = await fetch(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, redirect: 'manual' });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: parseJsonObject<B>(text) };
}

/** The status, shown with the start of the body when it is not the expected one. */
export function expectStatus(reply: { status: number; text: string }, status: number): void {
  expect(`${reply.status} ${reply.text.slice(0, 400)}`).toMatch(new RegExp(`^${status}\\b`));
}
