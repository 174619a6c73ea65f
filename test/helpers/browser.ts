// A scripted user agent for the login and consent pages: plain HTTP with a real cookie
// jar, following redirects by hand so tests can see every hop.
import { CookieJar } from 'tough-cookie';

export interface Hop {
  status: number;
  url: string;
  location?: string;
  body: string;
  headers: Headers;
}

export class Browser {
  readonly jar = new CookieJar();

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Hop> {
    const headers: Record<string, string> = { ...init.headers };
    const cookie = await this.jar.getCookieString(url);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const response = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) await this.jar.setCookie(setCookie, url);
    const location = response.headers.get('location') ?? undefined;
    return {
      status: response.status,
      url,
      location: location ? new URL(location, url).toString() : undefined,
      body: await response.text(),
      headers: response.headers,
    };
  }

  /**
   * Follows redirects from `url` until a page answers or the next hop leaves the issuer
   * (e.g. the client's redirect_uri, which is returned without being fetched).
   */
  async follow(url: string, issuer: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Hop> {
    let hop = await this.request(url, init);
    for (let i = 0; i < 10 && hop.location && hop.location.startsWith(issuer); i += 1) {
      hop = await this.request(hop.location);
    }
    return hop;
  }
}

/** Reads a hidden or text input's value from a rendered form. */
export function inputValue(html: string, name: string): string {
  const match = new RegExp(`name="${name}"[^>]*value="([^"]*)"`).exec(html) ?? new RegExp(`value="([^"]*)"[^>]*name="${name}"`).exec(html);
  if (!match) throw new Error(`no input named ${name} in page`);
  return match[1]!.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

export function formAction(html: string, suffix: string): string {
  const match = new RegExp(`action="([^"]*${suffix})"`).exec(html);
  if (!match) throw new Error(`no form posting to *${suffix}`);
  return match[1]!;
}
