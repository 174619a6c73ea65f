// Shapes of what the admin API returns, for the OpenAPI document. Request bodies and
// query strings are described by the very schemas that validate them (services/*.ts).
import { z } from 'zod';
import { SUPPORTED_AUTH_METHODS, SUPPORTED_GRANT_TYPES } from '../services/clients.js';
import { REQUEST_OBJECT_SIGNING_ALGS } from '../oidc/request-objects.js';

const timestamp = z.iso.datetime().describe('RFC 3339 UTC timestamp');

export const clientView = z
  .looseObject({
    client_id: z.string(),
    client_name: z.string(),
    application_type: z.enum(['web', 'native']),
    grant_types: z.array(z.enum(SUPPORTED_GRANT_TYPES)),
    response_types: z.array(z.literal('code')),
    redirect_uris: z.array(z.string()),
    post_logout_redirect_uris: z.array(z.string()),
    token_endpoint_auth_method: z.enum(SUPPORTED_AUTH_METHODS),
    id_token_signed_response_alg: z.enum(['RS256', 'ES256']),
    scope: z.string().optional(),
    logo_uri: z.string().optional(),
    client_uri: z.string().optional(),
    policy_uri: z.string().optional(),
    tos_uri: z.string().optional(),
    jwks_uri: z.string().optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
    contacts: z.array(z.string()).optional(),
    backchannel_logout_uri: z.string().optional(),
    backchannel_logout_session_required: z.boolean().optional(),
    frontchannel_logout_uri: z.string().optional().describe('Loaded in an invisible iframe when the user signs out at Gatehouse (OIDC Front-Channel Logout)'),
    frontchannel_logout_session_required: z.boolean().optional(),
    subject_type: z.enum(['public', 'pairwise']).optional().describe('pairwise: the client sees a sub of its own sector; absent or public: the account id'),
    sector_identifier_uri: z.string().optional().describe('Its host is the pairwise sector'),
    first_party: z.boolean(),
    require_pkce: z.boolean(),
    disabled: z.boolean(),
    dynamic: z.boolean().describe('Registered by the client itself (RFC 7591)'),
    roles: z.array(z.string()),
    api_scopes: z.record(z.string(), z.array(z.string())).optional(),
    default_resource: z.string().optional(),
    require_mfa: z.boolean().optional().describe('Users must pass a second factor to sign in to this client'),
    dpop_bound_access_tokens: z.boolean().optional().describe('Access tokens must be DPoP-bound (RFC 9449)'),
    token_exchange: z.object({
      audiences: z.array(z.string()),
      scopes: z.array(z.string()),
      subject_token_audiences: z.array(z.string()).optional(),
    }).optional().describe('Token exchange policy (RFC 8693): downstream APIs and scopes, and which tokens it may present'),
    require_pushed_authorization_requests: z.boolean().optional().describe('Authorization requests must be pushed (RFC 9126)'),
    require_signed_request_object: z.boolean().optional().describe('Authorization requests must be signed request objects (RFC 9101)'),
    request_object_signing_alg: z.enum(REQUEST_OBJECT_SIGNING_ALGS).optional().describe('The only algorithm accepted for request objects'),
    previous_secret_expires_at: timestamp.optional().describe('While a rotated-out secret still works'),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .describe('A client. Never contains its secret.');

export const clientWithSecret = z.object({
  client: clientView,
  client_secret: z.string().optional().describe('Shown only in this response; store it now'),
});

export const rotatedSecret = clientWithSecret.extend({
  client_secret: z.string(),
  previous_secret_expires_at: timestamp.nullable(),
});

export const userView = z.object({
  id: z.uuid().describe('The stable `sub` of the user'),
  email: z.string(),
  username: z.string().nullable(),
  name: z.string().nullable(),
  email_verified: z.boolean(),
  disabled: z.boolean(),
  roles: z.array(z.string()),
  claims: z.record(z.string(), z.unknown()).describe('Further standard OpenID Connect claims'),
  created_at: timestamp,
  updated_at: timestamp,
});

export const sessionView = z.object({
  id: z.string(),
  signed_in_at: timestamp.nullable(),
  expires_at: timestamp.nullable(),
  clients: z.array(z.string()).describe('Clients the user signed in to in this session'),
});

export const grantView = z.object({
  id: z.string(),
  client_id: z.string(),
  scope: z.string(),
  resources: z.record(z.string(), z.string()).describe('Scopes granted per API (resource indicator)'),
  created_at: timestamp.nullable(),
  expires_at: timestamp.nullable(),
});

export const roleView = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string(),
  built_in: z.boolean().describe('admin and admin:read cannot be renamed or deleted'),
  created_at: timestamp,
  updated_at: timestamp,
});

export const roleNames = z.object({ roles: z.array(z.string()) });

export const apiView = z.object({
  id: z.uuid(),
  identifier: z.string().describe('Resource indicator and token audience'),
  name: z.string(),
  scopes: z.array(z.object({ name: z.string(), description: z.string() })),
  access_token_ttl: z.number().int(),
  signing_alg: z.string(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const keyView = z.object({
  kid: z.string(),
  alg: z.string(),
  use: z.string(),
  status: z.enum(['next', 'current', 'retired']).describe('next keys are published before they sign; current keys sign; retired keys stay published for verification'),
  created_at: timestamp,
  activated_at: timestamp.nullable(),
  retired_at: timestamp.nullable(),
  public_jwk: z.record(z.string(), z.unknown()).describe('Public members only'),
});

export const registrationTokenView = z.object({
  id: z.string().describe('A digest of the token (the token itself is never stored)'),
  created_at: timestamp.nullable(),
  expires_at: timestamp.nullable(),
  policies: z.array(z.string()),
});

export const createdRegistrationToken = registrationTokenView.extend({
  token: z.string().describe('Shown only in this response: the initial access token for POST /reg'),
});

export const auditEventView = z.object({
  id: z.string(),
  occurred_at: timestamp,
  actor: z.object({
    type: z.enum(['client', 'user', 'cli', 'registration', 'system']),
    id: z.string(),
    client_id: z.string().nullable(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
  }),
  request_id: z.string().nullable(),
  action: z.string(),
  target: z.object({ type: z.string(), id: z.string() }),
  before: z.unknown().describe('The target before the change, secrets removed'),
  after: z.unknown().describe('The target after the change, secrets removed'),
});

export function page<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().describe('Pass as ?cursor= for the next page; null on the last page'),
  });
}

export function list<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item) });
}

export const problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string(),
    request_id: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional().describe('One entry per invalid field'),
  })
  .describe('RFC 9457 problem details');

export const lockoutView = z.object({
  locked: z.boolean(),
  retry_after: z.number().int().nullable().describe('Seconds until the lock ends by itself'),
});
