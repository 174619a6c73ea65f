// Every admin API route, declared once: the router is built from this table and so is
// the OpenAPI document, with the same zod schemas that validate each request. A route
// cannot exist without being documented, nor be documented with a shape it does not take.
import type { Context } from 'koa';
import { z } from 'zod';
import { apiPatchInput, newApiInput, type ApiService } from '../services/apis.js';
import { auditListQuery } from '../services/audit.js';
import { newUserInput, setPasswordInput, userListQuery, userPatchInput, type AccountService } from '../services/accounts.js';
import type { AuditService } from '../services/audit.js';
import { clientListQuery, clientPatchInput, newClientInput, rotateSecretInput, type ClientService } from '../services/clients.js';
import { viewKey, type KeyService } from '../services/keys.js';
import type { MfaService } from '../services/mfa.js';
import type { LockoutService } from '../services/lockouts.js';
import { newRegistrationTokenInput, type RegistrationTokenService } from '../services/registration-tokens.js';
import { newRoleInput, rolePatchInput, type RoleService } from '../services/roles.js';
import { pageQuery, roleName } from '../services/validation.js';
import type { AuditActor } from '../stores/audit.js';
import type { AdminScope } from './authenticate.js';
import * as shapes from './schemas.js';

export interface AdminServices {
  clients: ClientService;
  apis: ApiService;
  accounts: AccountService;
  roles: RoleService;
  mfa: MfaService;
  lockouts: LockoutService;
  keys: KeyService;
  audit: AuditService;
  registrationTokens: RegistrationTokenService;
  /** Mails a user a link that verifies their address (src/recovery/notifier.ts). */
  verificationMail: { emailVerification(userId: string, actor: AuditActor): Promise<{ sent_to: string; expires_at: string }> };
}

export interface RouteInput {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  actor: AuditActor;
  ctx: Context;
}

export interface RouteResult {
  status: number;
  body?: unknown;
}

export interface AdminRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI path template below /admin, e.g. /clients/{id}. */
  path: string;
  operationId: string;
  summary: string;
  tag: 'Clients' | 'Users' | 'Roles' | 'APIs' | 'Keys' | 'Registration tokens' | 'Audit';
  scope: AdminScope;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Validated by the service that handles the route; given here for the document. */
  body?: z.ZodType;
  /** The body may be left out (every field has a default). */
  bodyOptional?: boolean;
  response: { status: number; description: string; schema?: z.ZodType };
  /** Whether the route changes something (audited and rate-limited per actor). */
  mutates: boolean;
  handle(input: RouteInput, services: AdminServices): Promise<RouteResult>;
}

const clientId = z.object({ id: z.string().max(200).describe('client_id') });
const userId = z.object({ id: z.uuid().describe('User id (the `sub`)') });
const roleParam = z.object({ name: roleName.describe('Role name') });
const apiId = z.object({ id: z.uuid().describe('API id') });
const ok = (body: unknown): RouteResult => ({ status: 200, body });
const noContent: RouteResult = { status: 204 };

export const ADMIN_ROUTES: AdminRoute[] = [
  // Clients
  {
    method: 'get', path: '/clients', operationId: 'listClients', summary: 'List clients', tag: 'Clients', scope: 'admin:read', mutates: false,
    query: clientListQuery, response: { status: 200, description: 'A page of clients', schema: shapes.page(shapes.clientView) },
    handle: async ({ query }, s) => ok(await s.clients.listClients(query)),
  },
  {
    method: 'post', path: '/clients', operationId: 'createClient', summary: 'Register a client; the response shows its secret once', tag: 'Clients',
    scope: 'admin', mutates: true, body: newClientInput,
    response: { status: 201, description: 'The client, with client_secret for confidential clients', schema: shapes.clientWithSecret },
    handle: async ({ body, actor }, s) => ({ status: 201, body: await s.clients.createClient(body, actor) }),
  },
  {
    method: 'get', path: '/clients/{id}', operationId: 'getClient', summary: 'Get a client', tag: 'Clients', scope: 'admin:read', mutates: false,
    params: clientId, response: { status: 200, description: 'The client', schema: shapes.clientView },
    handle: async ({ params }, s) => ok(await s.clients.getClient(params.id!)),
  },
  {
    method: 'put', path: '/clients/{id}', operationId: 'replaceClient', summary: 'Replace a client (omitted fields take their defaults)', tag: 'Clients',
    scope: 'admin', mutates: true, params: clientId, body: newClientInput,
    response: { status: 200, description: 'The client; client_secret when a secret-based auth method was newly chosen', schema: shapes.clientWithSecret },
    handle: async ({ params, body, actor }, s) => ok(await s.clients.replaceClient(params.id!, body, actor)),
  },
  {
    method: 'patch', path: '/clients/{id}', operationId: 'updateClient', summary: 'Change some fields of a client (disabled: true disables it)', tag: 'Clients',
    scope: 'admin', mutates: true, params: clientId, body: clientPatchInput,
    response: { status: 200, description: 'The client; client_secret when a secret-based auth method was newly chosen', schema: shapes.clientWithSecret },
    handle: async ({ params, body, actor }, s) => ok(await s.clients.updateClient(params.id!, body, actor)),
  },
  {
    method: 'delete', path: '/clients/{id}', operationId: 'deleteClient', summary: 'Delete a client; its grants and tokens end at once', tag: 'Clients',
    scope: 'admin', mutates: true, params: clientId, response: { status: 204, description: 'Deleted' },
    handle: async ({ params, actor }, s) => {
      await s.clients.deleteClient(params.id!, actor);
      return noContent;
    },
  },
  {
    method: 'post', path: '/clients/{id}/secret', operationId: 'rotateClientSecret', summary: 'Rotate a client secret; the new one is shown once', tag: 'Clients',
    scope: 'admin', mutates: true, params: clientId, body: rotateSecretInput, bodyOptional: true,
    response: { status: 200, description: 'The new secret, and until when the previous one still works', schema: shapes.rotatedSecret },
    handle: async ({ params, body, actor }, s) => ok(await s.clients.rotateSecret(params.id!, body, actor)),
  },
  {
    method: 'put', path: '/clients/{id}/roles/{name}', operationId: 'assignClientRole', summary: 'Give a client (service account) a role', tag: 'Clients',
    scope: 'admin', mutates: true, params: clientId.extend(roleParam.shape), response: { status: 200, description: 'The client\'s roles', schema: shapes.roleNames },
    handle: async ({ params, actor }, s) => ok({ roles: await s.roles.assignToClient(params.id!, params.name!, actor) }),
  },
  {
    method: 'delete', path: '/clients/{id}/roles/{name}', operationId: 'removeClientRole', summary: 'Take a role from a client', tag: 'Clients',
    scope: 'admin', mutates: true, params: clientId.extend(roleParam.shape), response: { status: 200, description: 'The client\'s roles', schema: shapes.roleNames },
    handle: async ({ params, actor }, s) => ok({ roles: await s.roles.removeFromClient(params.id!, params.name!, actor) }),
  },

  // Users
  {
    method: 'get', path: '/users', operationId: 'listUsers', summary: 'List or search users', tag: 'Users', scope: 'admin:read', mutates: false,
    query: userListQuery, response: { status: 200, description: 'A page of users', schema: shapes.page(shapes.userView) },
    handle: async ({ query }, s) => ok(await s.accounts.listUsers(query)),
  },
  {
    method: 'post', path: '/users', operationId: 'createUser', summary: 'Create a user', tag: 'Users', scope: 'admin', mutates: true,
    body: newUserInput, response: { status: 201, description: 'The user (never the password)', schema: shapes.userView },
    handle: async ({ body, actor }, s) => ({ status: 201, body: await s.accounts.createUser(body, actor) }),
  },
  {
    method: 'get', path: '/users/{id}', operationId: 'getUser', summary: 'Get a user', tag: 'Users', scope: 'admin:read', mutates: false,
    params: userId, response: { status: 200, description: 'The user', schema: shapes.userView },
    handle: async ({ params }, s) => ok(await s.accounts.getUser(params.id!)),
  },
  {
    method: 'patch', path: '/users/{id}', operationId: 'updateUser', summary: 'Update a user\'s profile, roles or disabled flag', tag: 'Users',
    scope: 'admin', mutates: true, params: userId, body: userPatchInput, response: { status: 200, description: 'The user', schema: shapes.userView },
    handle: async ({ params, body, actor }, s) => ok(await s.accounts.updateUser(params.id!, body, actor)),
  },
  {
    method: 'delete', path: '/users/{id}', operationId: 'deleteUser', summary: 'Delete a user; their sessions and tokens end at once', tag: 'Users',
    scope: 'admin', mutates: true, params: userId, response: { status: 204, description: 'Deleted' },
    handle: async ({ params, actor }, s) => {
      await s.accounts.deleteUser(params.id!, actor);
      return noContent;
    },
  },
  {
    method: 'put', path: '/users/{id}/password', operationId: 'setUserPassword', summary: 'Set a password; the user is signed out everywhere', tag: 'Users',
    scope: 'admin', mutates: true, params: userId, body: setPasswordInput, response: { status: 200, description: 'The user', schema: shapes.userView },
    handle: async ({ params, body, actor }, s) => ok(await s.accounts.setPassword(params.id!, body, actor)),
  },
  {
    method: 'post', path: '/users/{id}/disable', operationId: 'disableUser', summary: 'Disable a user: no sign-in, sessions and tokens end', tag: 'Users',
    scope: 'admin', mutates: true, params: userId, response: { status: 200, description: 'The user', schema: shapes.userView },
    handle: async ({ params, actor }, s) => ok(await s.accounts.updateUser(params.id!, { disabled: true }, actor)),
  },
  {
    method: 'post', path: '/users/{id}/enable', operationId: 'enableUser', summary: 'Enable a disabled user', tag: 'Users',
    scope: 'admin', mutates: true, params: userId, response: { status: 200, description: 'The user', schema: shapes.userView },
    handle: async ({ params, actor }, s) => ok(await s.accounts.updateUser(params.id!, { disabled: false }, actor)),
  },
  {
    method: 'post', path: '/users/{id}/verification-email', operationId: 'sendVerificationEmail',
    summary: 'Mail the user a link that verifies their address (valid 24 hours; earlier links stop working)', tag: 'Users',
    scope: 'admin', mutates: true, params: userId,
    response: {
      status: 202,
      description: 'The mail was accepted for delivery',
      schema: z.object({ sent_to: z.string().describe('The user\'s current address'), expires_at: z.iso.datetime().describe('When the link stops working') }),
    },
    handle: async ({ params, actor }, s) => ({ status: 202, body: await s.verificationMail.emailVerification(params.id!, actor) }),
  },
  {
    method: 'get', path: '/users/{id}/lockout', operationId: 'getUserLockout', summary: 'Whether repeated failed sign-ins have locked the user\'s names', tag: 'Users',
    scope: 'admin:read', mutates: false, params: userId, response: { status: 200, description: 'Lock status', schema: shapes.lockoutView },
    handle: async ({ params }, s) => ok(await s.lockouts.status(params.id!)),
  },
  {
    method: 'post', path: '/users/{id}/unlock', operationId: 'unlockUser', summary: 'Lift a sign-in lock and forget the failed attempts', tag: 'Users',
    scope: 'admin', mutates: true, params: userId, response: { status: 200, description: 'Lock status', schema: shapes.lockoutView },
    handle: async ({ params, actor }, s) => ok(await s.lockouts.unlock(params.id!, actor)),
  },
  {
    method: 'put', path: '/users/{id}/roles/{name}', operationId: 'assignUserRole', summary: 'Give a user a role', tag: 'Users',
    scope: 'admin', mutates: true, params: userId.extend(roleParam.shape), response: { status: 200, description: 'The user\'s roles', schema: shapes.roleNames },
    handle: async ({ params, actor }, s) => ok({ roles: await s.roles.assignToUser(params.id!, params.name!, actor) }),
  },
  {
    method: 'delete', path: '/users/{id}/roles/{name}', operationId: 'removeUserRole', summary: 'Take a role from a user', tag: 'Users',
    scope: 'admin', mutates: true, params: userId.extend(roleParam.shape), response: { status: 200, description: 'The user\'s roles', schema: shapes.roleNames },
    handle: async ({ params, actor }, s) => ok({ roles: await s.roles.removeFromUser(params.id!, params.name!, actor) }),
  },
  {
    method: 'get', path: '/users/{id}/sessions', operationId: 'listUserSessions', summary: 'List a user\'s browser sessions', tag: 'Users',
    scope: 'admin:read', mutates: false, params: userId, response: { status: 200, description: 'Live sessions', schema: shapes.list(shapes.sessionView) },
    handle: async ({ params }, s) => ok({ items: await s.accounts.listSessions(params.id!) }),
  },
  {
    method: 'delete', path: '/users/{id}/sessions', operationId: 'revokeUserSessions', summary: 'Sign a user out everywhere and revoke all their tokens', tag: 'Users',
    scope: 'admin', mutates: true, params: userId, response: { status: 204, description: 'Revoked' },
    handle: async ({ params, actor }, s) => {
      await s.accounts.revokeAllSessions(params.id!, actor);
      return noContent;
    },
  },
  {
    method: 'delete', path: '/users/{id}/sessions/{session}', operationId: 'revokeUserSession', summary: 'End one session and the grants made in it', tag: 'Users',
    scope: 'admin', mutates: true, params: userId.extend({ session: z.string().max(100) }), response: { status: 204, description: 'Revoked' },
    handle: async ({ params, actor }, s) => {
      await s.accounts.revokeSession(params.id!, params.session!, actor);
      return noContent;
    },
  },
  {
    method: 'get', path: '/users/{id}/grants', operationId: 'listUserGrants', summary: 'List what a user allowed each client', tag: 'Users',
    scope: 'admin:read', mutates: false, params: userId, response: { status: 200, description: 'Live grants', schema: shapes.list(shapes.grantView) },
    handle: async ({ params }, s) => ok({ items: await s.accounts.listGrants(params.id!) }),
  },
  {
    method: 'delete', path: '/users/{id}/grants/{grant}', operationId: 'revokeUserGrant', summary: 'Revoke a grant and every token issued under it', tag: 'Users',
    scope: 'admin', mutates: true, params: userId.extend({ grant: z.string().max(100) }), response: { status: 204, description: 'Revoked' },
    handle: async ({ params, actor }, s) => {
      await s.accounts.revokeGrant(params.id!, params.grant!, actor);
      return noContent;
    },
  },
  {
    method: 'delete', path: '/users/{id}/mfa', operationId: 'resetUserMfa', summary: 'Remove a user\'s second factor (authenticator app and recovery codes); they sign in with the password and may enrol again', tag: 'Users',
    scope: 'admin', mutates: true, params: userId, response: { status: 204, description: 'Removed' },
    handle: async ({ params, actor }, s) => {
      await s.mfa.reset(params.id!, actor);
      return noContent;
    },
  },

  // Roles
  {
    method: 'get', path: '/roles', operationId: 'listRoles', summary: 'List roles', tag: 'Roles', scope: 'admin:read', mutates: false,
    query: pageQuery, response: { status: 200, description: 'A page of roles', schema: shapes.page(shapes.roleView) },
    handle: async ({ query }, s) => ok(await s.roles.list(query)),
  },
  {
    method: 'post', path: '/roles', operationId: 'createRole', summary: 'Create a role', tag: 'Roles', scope: 'admin', mutates: true,
    body: newRoleInput, response: { status: 201, description: 'The role', schema: shapes.roleView },
    handle: async ({ body, actor }, s) => ({ status: 201, body: await s.roles.create(body, actor) }),
  },
  {
    method: 'get', path: '/roles/{name}', operationId: 'getRole', summary: 'Get a role', tag: 'Roles', scope: 'admin:read', mutates: false,
    params: roleParam, response: { status: 200, description: 'The role', schema: shapes.roleView },
    handle: async ({ params }, s) => ok(await s.roles.get(params.name!)),
  },
  {
    method: 'patch', path: '/roles/{name}', operationId: 'updateRole', summary: 'Rename a role or change its description', tag: 'Roles',
    scope: 'admin', mutates: true, params: roleParam, body: rolePatchInput, response: { status: 200, description: 'The role', schema: shapes.roleView },
    handle: async ({ params, body, actor }, s) => ok(await s.roles.update(params.name!, body, actor)),
  },
  {
    method: 'delete', path: '/roles/{name}', operationId: 'deleteRole', summary: 'Delete a role; its holders lose it', tag: 'Roles',
    scope: 'admin', mutates: true, params: roleParam, response: { status: 204, description: 'Deleted' },
    handle: async ({ params, actor }, s) => {
      await s.roles.delete(params.name!, actor);
      return noContent;
    },
  },

  // APIs
  {
    method: 'get', path: '/apis', operationId: 'listApis', summary: 'List APIs (resource servers)', tag: 'APIs', scope: 'admin:read', mutates: false,
    query: pageQuery, response: { status: 200, description: 'A page of APIs', schema: shapes.page(shapes.apiView) },
    handle: async ({ query }, s) => ok(await s.apis.list(query)),
  },
  {
    method: 'post', path: '/apis', operationId: 'createApi', summary: 'Register an API: its tokens become JWTs it verifies offline', tag: 'APIs',
    scope: 'admin', mutates: true, body: newApiInput, response: { status: 201, description: 'The API', schema: shapes.apiView },
    handle: async ({ body, actor }, s) => ({ status: 201, body: await s.apis.create(body, actor) }),
  },
  {
    method: 'get', path: '/apis/{id}', operationId: 'getApi', summary: 'Get an API', tag: 'APIs', scope: 'admin:read', mutates: false,
    params: apiId, response: { status: 200, description: 'The API', schema: shapes.apiView },
    handle: async ({ params }, s) => ok(await s.apis.get(params.id!)),
  },
  {
    method: 'patch', path: '/apis/{id}', operationId: 'updateApi', summary: 'Change an API\'s name, scopes, token lifetime or algorithm', tag: 'APIs',
    scope: 'admin', mutates: true, params: apiId, body: apiPatchInput, response: { status: 200, description: 'The API', schema: shapes.apiView },
    handle: async ({ params, body, actor }, s) => ok(await s.apis.update(params.id!, body, actor)),
  },
  {
    method: 'delete', path: '/apis/{id}', operationId: 'deleteApi', summary: 'Delete an API; no new tokens are issued for it', tag: 'APIs',
    scope: 'admin', mutates: true, params: apiId, response: { status: 204, description: 'Deleted' },
    handle: async ({ params, actor }, s) => {
      await s.apis.delete(params.id!, actor);
      return noContent;
    },
  },

  // Keys
  {
    method: 'get', path: '/keys', operationId: 'listKeys', summary: 'List signing keys (public parts and status)', tag: 'Keys', scope: 'admin:read', mutates: false,
    response: { status: 200, description: 'Every key, newest first', schema: shapes.list(shapes.keyView) },
    handle: async (_input, s) => ok({ items: (await s.keys.list()).map(viewKey) }),
  },
  {
    method: 'post', path: '/keys/rotate', operationId: 'rotateKeys', summary: 'Rotate the signing keys now', tag: 'Keys', scope: 'admin', mutates: true,
    response: { status: 200, description: 'Every key after the rotation', schema: shapes.list(shapes.keyView) },
    handle: async ({ actor }, s) => ok({ items: (await s.keys.rotate(actor)).map(viewKey) }),
  },

  // Registration tokens
  {
    method: 'get', path: '/registration-tokens', operationId: 'listRegistrationTokens', summary: 'List live initial access tokens', tag: 'Registration tokens',
    scope: 'admin:read', mutates: false, query: pageQuery,
    response: { status: 200, description: 'A page of live tokens (never their values)', schema: shapes.page(shapes.registrationTokenView) },
    handle: async ({ query }, s) => ok(await s.registrationTokens.list(query)),
  },
  {
    method: 'post', path: '/registration-tokens', operationId: 'createRegistrationToken', summary: 'Issue an initial access token for dynamic registration (POST /reg)',
    tag: 'Registration tokens', scope: 'admin', mutates: true, body: newRegistrationTokenInput, bodyOptional: true,
    response: { status: 201, description: 'The token, shown only here', schema: shapes.createdRegistrationToken },
    handle: async ({ body, actor }, s) => ({ status: 201, body: await s.registrationTokens.create(body, actor) }),
  },
  {
    method: 'delete', path: '/registration-tokens/{id}', operationId: 'revokeRegistrationToken', summary: 'Revoke an initial access token', tag: 'Registration tokens',
    scope: 'admin', mutates: true, params: z.object({ id: z.string().max(100) }), response: { status: 204, description: 'Revoked' },
    handle: async ({ params, actor }, s) => {
      await s.registrationTokens.revoke(params.id!, actor);
      return noContent;
    },
  },

  // Audit
  {
    method: 'get', path: '/audit-events', operationId: 'listAuditEvents', summary: 'Read the audit trail, newest first', tag: 'Audit', scope: 'admin:read', mutates: false,
    query: auditListQuery, response: { status: 200, description: 'A page of events', schema: shapes.page(shapes.auditEventView) },
    handle: async ({ query }, s) => ok(await s.audit.list(query)),
  },
];
