// Registration-time rules for redirect URIs (RFC 9700 §2.1, RFC 8252 §7, RFC 7591 §2).
// Matching at the authorization endpoint is oidc-provider's exact string comparison;
// these rules keep dangerous URIs from being registered in the first place.

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'file:', 'vbscript:', 'blob:', 'about:']);

export interface RedirectRules {
  applicationType: 'web' | 'native';
  /** Production forbids plain http even on loopback for web clients. */
  production: boolean;
}

/** Returns why the URI cannot be registered, or undefined when it can. */
export function redirectUriProblem(value: string, rules: RedirectRules): string | undefined {
  if (value.length > 2000) return 'must be at most 2000 characters';
  if (/[\s*]/.test(value)) return 'must not contain whitespace or wildcards';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URI';
  }
  if (value.includes('#')) return 'must not contain a fragment';
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return `must not use the ${url.protocol} scheme`;
  if (url.username || url.password) return 'must not contain user information';
  const loopback = LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    if (!loopback) return 'must use https (http is allowed only for localhost)';
    if (rules.production && rules.applicationType === 'web') return 'must use https in production';
    return undefined;
  }
  // A private-use scheme (RFC 8252 §7.1) such as com.example.app:/callback.
  if (rules.applicationType !== 'native') return 'custom schemes are allowed only for native clients (application_type native)';
  if (!/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) return 'a custom scheme must be a reverse domain name, e.g. com.example.app:';
  return undefined;
}
