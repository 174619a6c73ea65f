// Pairwise subject identifiers (OpenID Connect Core 8.1): a client registered with
// subject_type=pairwise sees, for each user, a `sub` of its own sector that no client of
// another sector can correlate with. sub = HMAC-SHA256(K, sector || 0x00 || account id),
// base64url (43 characters), with K derived from SECRET_KEY by HKDF for this one purpose.
//
// The sector is oidc-provider's client.sectorIdentifier: the host of sector_identifier_uri,
// else the host of the first redirect URI. A client whose redirect URIs are on several
// hosts must register a sector_identifier_uri (checked here and at registration), which
// oidc-provider fetches through the SSRF-safe fetch and which must list every redirect URI.
//
// The value depends on SECRET_KEY: rotating SECRET_KEY changes every pairwise sub, so a
// deployment with pairwise clients keeps its SECRET_KEY (README, Advanced protocol features).
import { createHmac, hkdfSync } from 'node:crypto';
import type { FieldProblem } from '../errors.js';

export const SUBJECT_TYPES = ['public', 'pairwise'] as const;

export function createPairwiseIdentifier(secretKey: string) {
  const key = Buffer.from(hkdfSync('sha256', Buffer.from(secretKey, 'base64'), Buffer.alloc(0), 'gatehouse pairwise-subject', 32));
  return async function pairwiseIdentifier(_ctx: unknown, accountId: string, client: object): Promise<string> {
    // oidc-provider computes it for every client (its typings do not list it).
    const sector = (client as { sectorIdentifier?: string | undefined }).sectorIdentifier;
    // oidc-provider refuses to load a pairwise client without one; never hash an empty sector.
    if (!sector) throw new Error('a pairwise client has no sector identifier');
    return createHmac('sha256', key).update(sector).update('\0').update(accountId).digest('base64url');
  };
}

function host(uri: string): string | undefined {
  try {
    return new URL(uri).host;
  } catch {
    return undefined;
  }
}

/**
 * OIDC Core 8.1: with redirect URIs on more than one host, the sector is not implied and a
 * sector_identifier_uri is required; without redirect URIs there is nothing to derive it from.
 */
export function pairwiseProblems(data: { subject_type?: unknown; sector_identifier_uri?: unknown; redirect_uris?: string[] | undefined }): FieldProblem[] {
  if (data.subject_type !== 'pairwise' || data.sector_identifier_uri !== undefined) return [];
  const hosts = new Set((data.redirect_uris ?? []).map(host));
  if (hosts.size > 1) {
    return [{ field: 'sector_identifier_uri', message: 'is required for a pairwise client whose redirect URIs are on more than one host' }];
  }
  if (hosts.size === 0) {
    return [{ field: 'sector_identifier_uri', message: 'is required for a pairwise client without redirect URIs' }];
  }
  return [];
}
