// What a client registering itself (RFC 7591, with an initial access token from an
// administrator) may ask for. The same registration rules as the admin API apply, and
// nothing that only an administrator may grant: no admin scopes, no roles, no
// first-party status, no opting out of PKCE (checklist C1, C7, C8).
import { isDeepStrictEqual } from 'node:util';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { clientRuleProblems, SUPPORTED_AUTH_METHODS, SUPPORTED_SCOPES } from '../services/clients.js';
import { frontchannelProblems } from './frontchannel-logout.js';
import { pairwiseProblems } from './pairwise.js';

/**
 * Fields only an administrator may set, with the value a self-registered client has. A
 * client may send them back unchanged (RFC 7592 §2.2: an update carries what a read
 * returned), never with another value.
 */
const ADMIN_ONLY: Record<string, unknown> = {
  first_party: false,
  require_pkce: true,
  gatehouse_roles: [],
  gatehouse_dynamic: true,
  roles: undefined,
  api_scopes: undefined,
  default_resource: undefined,
  // Which APIs a service may act on a user's behalf at (RFC 8693) is an administrator's call.
  token_exchange: undefined,
};
const HTTPS_ONLY = ['logo_uri', 'client_uri', 'policy_uri', 'tos_uri', 'jwks_uri', 'sector_identifier_uri', 'initiate_login_uri'];

const strings = (value: unknown): string[] | undefined => (Array.isArray(value) ? value.map(String) : undefined);

export function createRegistrationPolicy(options: { production: boolean }) {
  return async function gatehouseDynamicRegistration(_ctx: KoaContextWithOIDC, properties: Record<string, unknown>): Promise<void> {
    const adminOnly = Object.entries(ADMIN_ONLY)
      .filter(([key, allowed]) => properties[key] !== undefined && !isDeepStrictEqual(properties[key], allowed))
      .map(([key]) => key);
    if (adminOnly.length) throw new errors.InvalidClientMetadata(`${adminOnly.join(', ')} can only be set by an administrator`);
    for (const key of HTTPS_ONLY) {
      const value = properties[key];
      if (value !== undefined && !(typeof value === 'string' && value.startsWith('https://'))) {
        throw new errors.InvalidClientMetadata(`${key} must be an https URL`);
      }
    }
    const method = properties.token_endpoint_auth_method;
    if (method !== undefined && !(SUPPORTED_AUTH_METHODS as readonly unknown[]).includes(method)) {
      throw new errors.InvalidClientMetadata(`token_endpoint_auth_method must be one of ${SUPPORTED_AUTH_METHODS.join(', ')}`);
    }
    const grantTypes = strings(properties.grant_types);
    const { problems } = clientRuleProblems({
      application_type: properties.application_type === 'native' ? 'native' : 'web',
      redirect_uris: strings(properties.redirect_uris),
      post_logout_redirect_uris: strings(properties.post_logout_redirect_uris),
      // oidc-provider's default for a registration without grant_types.
      grant_types: grantTypes ?? ['authorization_code'],
      token_endpoint_auth_method: typeof method === 'string' ? method : 'client_secret_basic',
      backchannel_logout_uri: typeof properties.backchannel_logout_uri === 'string' ? properties.backchannel_logout_uri : undefined,
      jwks: properties.jwks,
      jwks_uri: typeof properties.jwks_uri === 'string' ? properties.jwks_uri : undefined,
      scope: typeof properties.scope === 'string' ? properties.scope : undefined,
    }, options.production, SUPPORTED_SCOPES);
    // Front-channel logout URI and pairwise sector: the same rules as the admin API.
    problems.push(...frontchannelProblems(properties, options.production), ...pairwiseProblems({ ...properties, redirect_uris: strings(properties.redirect_uris) }));
    const first = problems[0];
    if (!first) return;
    const message = problems.map((problem) => `${problem.field}: ${problem.message}`).join('; ');
    if (first.field.startsWith('redirect_uris') || first.field.startsWith('post_logout_redirect_uris')) {
      // InvalidRedirectUri has a fixed description meant for the authorization endpoint.
      const error = new errors.InvalidRedirectUri();
      error.error_description = message;
      throw error;
    }
    throw new errors.InvalidClientMetadata(message);
  };
}
