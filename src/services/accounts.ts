// Users as the rest of Gatehouse sees them: creation with validation, sign-in by email or
// username, and the OIDC claims an account releases.
import { z } from 'zod';
import { AppError, invalidInput } from '../errors.js';
import type { UserRecord } from '../stores/users.js';
import { accountWords, PASSWORD_MAX_BYTES, passwordProblem, type PasswordHasher } from './passwords.js';
import type { AuditActor } from '../stores/audit.js';
import { decodeCursor, toPage, type Page } from '../stores/pagination.js';
import type { SecurityChanges } from './security-changes.js';
import { endedSession, type EndedSessions } from './ended-sessions.js';
import type { Stores, Transaction } from './transaction.js';
import { pageQuery, parseInput, roleName } from './validation.js';
import { mixesScripts } from './username-scripts.js';

const address = z
  .object({
    formatted: z.string().max(1000),
    street_address: z.string().max(500),
    locality: z.string().max(200),
    region: z.string().max(200),
    postal_code: z.string().max(50),
    country: z.string().max(100),
  })
  .partial()
  .strict();

/** Standard OIDC claims (OpenID Connect Core 5.1) a user record may hold besides email. */
export const profileClaims = z
  .object({
    name: z.string().max(300),
    given_name: z.string().max(200),
    family_name: z.string().max(200),
    middle_name: z.string().max(200),
    nickname: z.string().max(200),
    preferred_username: z.string().max(200),
    profile: z.url(),
    picture: z.url(),
    website: z.url(),
    gender: z.string().max(50),
    birthdate: z.string().regex(/^(\d{4}|\d{4}-\d{2}-\d{2}|0000-\d{2}-\d{2})$/, 'must be YYYY, YYYY-MM-DD or 0000-MM-DD'),
    zoneinfo: z.string().max(100),
    locale: z.string().max(35),
    phone_number: z.string().max(50),
    phone_number_verified: z.boolean(),
    address,
  })
  .partial()
  .strict();

export type ProfileClaims = z.infer<typeof profileClaims>;


const username = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\p{L}\p{M}\p{N}._+-]+$/u, 'may hold letters, digits and . _ + - only (no @, so it can never look like an email address)')
  // Judged as stored: NFKC turns some symbols into Latin letters (ℓ, 𝐚), and keeps
  // characters nobody sees (U+034F, the Hangul filler U+3164).
  .refine((value) => !/\p{Default_Ignorable_Code_Point}/u.test(normalizeUsername(value)), 'may not hold invisible characters')
  .refine((value) => !mixesScripts(normalizeUsername(value)), 'may not mix letters of different scripts, such as Latin and Cyrillic, that can look alike');

const password = z.string().refine((value) => !passwordProblem(value), { error: (issue) => passwordProblem(String(issue.input)) ?? '' });

export const newUserInput = z
  .object({
    email: z.email().max(254),
    username: username.optional().describe('Optional second sign-in name; compared case-insensitively'),
    password: password.optional().describe('Write-only. Without one the user cannot sign in until a password is set'),
    name: z.string().trim().min(1).max(300).optional().describe('Full name (the `name` claim)'),
    email_verified: z.boolean().default(false),
    roles: z.array(roleName).max(100).default([]).describe('Names of existing roles'),
    claims: profileClaims.default({}).describe('Further standard OpenID Connect claims'),
  })
  .strict();

export type NewUserInput = z.input<typeof newUserInput>;

export const userPatchInput = z
  .object({
    email: z.email().max(254).describe('Changing it marks it unverified unless email_verified is given'),
    username: username.nullable().describe('null removes the username'),
    name: z.string().trim().min(1).max(300).nullable().describe('null removes the name'),
    email_verified: z.boolean(),
    claims: profileClaims.describe('Replaces the further claims as a whole'),
    roles: z.array(roleName).max(100).describe('Replaces the roles as a whole'),
    disabled: z.boolean().describe('Disabling signs the user out everywhere and revokes their tokens'),
  })
  .partial()
  .strict();

export const setPasswordInput = z.object({ password }).strict();

/**
 * The claims a user edits on their own account page, by the admin API's rules
 * (profileClaims). A field left empty removes the claim; a field not sent stays as it is.
 */
export const OWN_PROFILE_FIELDS = ['name', 'given_name', 'family_name', 'nickname'] as const;
export type OwnProfileField = (typeof OWN_PROFILE_FIELDS)[number];

const ownClaim = (rule: z.ZodString) => z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}, rule.nullable().optional());

export const ownProfileInput = z.object(Object.fromEntries(OWN_PROFILE_FIELDS.map((field) => [field, ownClaim(profileClaims.shape[field].unwrap())])) as Record<OwnProfileField, ReturnType<typeof ownClaim>>).strict();

/** A signed-in user's new email address: the same rule as the admin API's. */
export const ownEmailInput = z.object({ email: z.string().trim().pipe(z.email().max(254)) }).strict();

/** Says neither whose the address is nor why: only that this account cannot have it. */
export const EMAIL_UNAVAILABLE = 'This email address cannot be used. Choose another one.';

/** A signed-in user choosing a new password: the current one proves it is them. */
export const changeOwnPasswordInput = z.object({ current_password: z.string().max(4096), new_password: password }).strict();

export const userListQuery = pageQuery.extend({
  q: z.string().max(254).optional().describe('Substring of the email address or username'),
  email: z.string().max(254).optional().describe('Exact email address'),
  username: z.string().max(64).optional().describe('Exact username'),
  role: roleName.optional().describe('Holders of this role'),
  disabled: z.enum(['true', 'false']).transform((value) => value === 'true').optional(),
});

/** The public shape of a user: never the hash. */
export interface UserView {
  id: string;
  email: string;
  username: string | null;
  name: string | null;
  email_verified: boolean;
  disabled: boolean;
  roles: string[];
  claims: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export function viewUser(user: UserRecord): UserView {
  const { name, ...claims } = user.claims;
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    name: typeof name === 'string' ? name : null,
    email_verified: user.emailVerified,
    disabled: user.disabled,
    roles: user.roles,
    claims,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

/** A signed-in browser session, as an administrator sees it. */
export interface SessionView {
  id: string;
  signed_in_at: string | null;
  expires_at: string | null;
  clients: string[];
}

/** What a user allowed a client, as an administrator sees it. */
export interface GrantView {
  id: string;
  client_id: string;
  scope: string;
  resources: Record<string, string>;
  created_at: string | null;
  expires_at: string | null;
}

/** A client the user let in: what its live grants and the remembered consent allow. */
export interface ConnectedApp {
  client_id: string;
  scopes: string[];
  /** When access was first given, if known. */
  since: string | null;
}

/** A password built on the account's own email or username is refused (NIST SP 800-63B §3.1.1.2). */
export function refuseAccountWords(password: string, account: { email?: string | undefined; username?: string | null | undefined }): void {
  const problem = passwordProblem(password, accountWords(account));
  if (problem) throw invalidInput([{ field: 'password', message: problem }]);
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Usernames compare case- and width-insensitively (NFKC + lower case). */
export function normalizeUsername(value: string): string {
  return value.normalize('NFKC').toLowerCase();
}

const epoch = (value: unknown) => (typeof value === 'number' ? new Date(value * 1000).toISOString() : null);

export type AccountService = ReturnType<typeof createAccountService>;

export function createAccountService(deps: { stores: Stores; transaction: Transaction; passwords: PasswordHasher; securityChanges?: SecurityChanges; endedSessions?: EndedSessions }) {
  const { stores, transaction, passwords } = deps;
  const { users } = stores;

  async function findByIdOrLogin(reference: string, within: Stores = stores): Promise<UserRecord> {
    const user = (await within.users.findById(reference))
      ?? (reference.includes('@') ? await within.users.findByEmail(normalizeEmail(reference)) : await within.users.findByUsername(normalizeUsername(reference)));
    if (!user) throw new AppError('not_found', 'No such user.');
    return user;
  }

  async function byId(id: string, within: Stores = stores): Promise<UserRecord> {
    const user = await within.users.findById(id);
    if (!user) throw new AppError('not_found', `No user with id ${id}.`);
    return user;
  }

  /** Ends every session and revokes every grant and token of a user. */
  const revokeEverything = (within: Stores, userId: string) => within.payloads.destroyByAccountId(userId);

  /** Ends one stored session and the grants made in it (each with its codes and tokens). */
  async function endSession(within: Stores, session: { id: string; payload: Record<string, unknown> }): Promise<void> {
    const authorizations = (session.payload.authorizations as Record<string, { grantId?: unknown }> | undefined) ?? {};
    for (const { grantId } of Object.values(authorizations)) {
      if (typeof grantId === 'string') await within.payloads.destroyByGrantId(grantId);
    }
    await within.payloads.destroy('Session', session.id);
  }

  return {
    async createUser(input: unknown, actor: AuditActor): Promise<UserView> {
      const data = parseInput(newUserInput, input);
      if (data.password !== undefined) refuseAccountWords(data.password, data);
      const passwordHash = data.password === undefined ? null : await passwords.hash(data.password);
      return transaction(async (tx) => {
        const user = await tx.users.create({
          email: normalizeEmail(data.email),
          username: data.username === undefined ? undefined : normalizeUsername(data.username),
          passwordHash,
          emailVerified: data.email_verified,
          claims: { ...data.claims, ...(data.name !== undefined ? { name: data.name } : {}) },
          roleIds: await tx.roles.idsFor(data.roles),
        });
        const view = viewUser(user);
        await tx.audit.append(actor, { action: 'user.create', targetType: 'user', targetId: user.id, after: view });
        return view;
      });
    },

    async listUsers(query: unknown): Promise<Page<UserView>> {
      const { limit, cursor, email, username: name, ...filter } = parseInput(userListQuery, query);
      const rows = await users.list(
        { limit, after: cursor ? decodeCursor(cursor) : undefined },
        { ...filter, ...(email !== undefined ? { email: normalizeEmail(email) } : {}), ...(name !== undefined ? { username: normalizeUsername(name) } : {}) },
      );
      return toPage(rows, limit, viewUser);
    },

    async getUser(id: string): Promise<UserView> {
      return viewUser(await byId(id));
    },

    async updateUser(id: string, input: unknown, actor: AuditActor): Promise<UserView> {
      const patch = parseInput(userPatchInput, input);
      return transaction(async (tx) => {
        const before = await byId(id, tx);
        let claims: Record<string, unknown> | undefined;
        if (patch.claims !== undefined || patch.name !== undefined) {
          const base = patch.claims ?? Object.fromEntries(Object.entries(before.claims).filter(([key]) => key !== 'name'));
          const name = patch.name === undefined ? before.claims.name : patch.name;
          claims = { ...base, ...(typeof name === 'string' ? { name } : {}) };
        }
        const email = patch.email === undefined ? undefined : normalizeEmail(patch.email);
        const emailChanged = email !== undefined && email !== before.email;
        const updated = await tx.users.update(id, {
          ...(email !== undefined ? { email } : {}),
          ...(patch.username !== undefined ? { username: patch.username === null ? null : normalizeUsername(patch.username) } : {}),
          ...(patch.email_verified !== undefined ? { emailVerified: patch.email_verified } : emailChanged ? { emailVerified: false } : {}),
          ...(claims ? { claims } : {}),
          ...(patch.disabled !== undefined ? { disabled: patch.disabled } : {}),
          ...(patch.roles ? { roleIds: await tx.roles.idsFor(patch.roles) } : {}),
        });
        if (updated.disabled && !before.disabled) await revokeEverything(tx, id);
        const view = viewUser(updated);
        await tx.audit.append(actor, { action: 'user.update', targetType: 'user', targetId: id, before: viewUser(before), after: view });
        return view;
      });
    },

    /**
     * A signed-in user edits their own name claims (ownProfileInput); the other claims stay.
     * Audited as any change of a user, with the user as the actor.
     */
    async updateOwnProfile(userId: string, input: unknown, actor: AuditActor): Promise<UserView> {
      const data = parseInput(ownProfileInput, input);
      return transaction(async (tx) => {
        const before = await byId(userId, tx);
        const claims: Record<string, unknown> = { ...before.claims };
        for (const field of OWN_PROFILE_FIELDS) {
          const value = data[field];
          if (value === null) delete claims[field];
          else if (typeof value === 'string') claims[field] = value;
        }
        const updated = await tx.users.update(userId, { claims });
        const view = viewUser(updated);
        await tx.audit.append(actor, { action: 'user.update', targetType: 'user', targetId: userId, before: viewUser(before), after: view });
        return view;
      });
    },

    /**
     * A signed-in user moves their account to a new address, stored unverified until its
     * mailed link is opened. Links mailed to the old address stop working (they are bound
     * to it). An address another account has is refused with EMAIL_UNAVAILABLE, which
     * names no one. A notice goes to the old address: it is the one its owner still reads.
     */
    async changeOwnEmail(userId: string, input: unknown, actor: AuditActor): Promise<{ changed: boolean; email: string }> {
      const email = normalizeEmail(parseInput(ownEmailInput, input).email);
      const result = await transaction(async (tx) => {
        const before = await byId(userId, tx);
        if (before.email === email) return { changed: false, email, previous: before.email };
        if (await tx.users.findByEmail(email)) throw new AppError('conflict', EMAIL_UNAVAILABLE);
        try {
          await tx.users.update(userId, { email, emailVerified: false });
        } catch (error) {
          // Taken between the look-up and the update: the unique index decides.
          if (error instanceof AppError && error.code === 'conflict') throw new AppError('conflict', EMAIL_UNAVAILABLE);
          throw error;
        }
        await tx.audit.append(actor, {
          action: 'user.change_email', targetType: 'user', targetId: userId,
          before: { email: before.email, email_verified: before.emailVerified }, after: { email, email_verified: false },
        });
        return { changed: true, email, previous: before.email };
      });
      if (result.changed) deps.securityChanges?.announce(userId, 'email_changed', actor, { notify: result.previous });
      return { changed: result.changed, email: result.email };
    },

    /** Deletes a user; their sessions, grants and tokens end with them. */
    async deleteUser(id: string, actor: AuditActor): Promise<void> {
      await transaction(async (tx) => {
        const before = await byId(id, tx);
        await revokeEverything(tx, id);
        await tx.users.delete(id);
        await tx.audit.append(actor, { action: 'user.delete', targetType: 'user', targetId: id, before: viewUser(before) });
      });
    },

    /**
     * Checks a login (email or username) and password. Returns the user only when both
     * match and the account is enabled; every failure looks the same to the caller and
     * costs one argon2 verification, so neither the answer nor its timing tells whether
     * the account exists.
     */
    async authenticate(login: string, secret: string): Promise<UserRecord | undefined> {
      if (Buffer.byteLength(secret, 'utf8') > PASSWORD_MAX_BYTES || login.length > 254) {
        throw new AppError('invalid_input', 'The email, username or password is too long.');
      }
      if (login.includes('\u0000')) throw new AppError('invalid_input', 'The email or username contains a character that is not allowed.');
      const trimmed = login.trim();
      const user = trimmed.includes('@')
        ? await users.findByEmail(normalizeEmail(trimmed))
        : await users.findByUsername(normalizeUsername(trimmed));
      const ok = await passwords.verify(user?.passwordHash, secret);
      if (!ok || !user || user.disabled) return undefined;
      if (user.passwordHash && passwords.needsRehash(user.passwordHash)) {
        // The cost parameters were raised since this hash was made: upgrade it now that
        // the plain password is at hand.
        await users.replacePasswordHash(user.id, user.passwordHash, await passwords.hash(secret));
      }
      return user;
    },

    findById: (id: string) => users.findById(id),

    /** Finds a user by id, email or username; not_found otherwise. */
    find: findByIdOrLogin,

    /**
     * Sets a new password and signs the user out everywhere: sessions, refresh tokens and
     * access tokens issued under the old password stop working (ASVS 7.4.3, RFC 9700 §4.14.2).
     */
    async setPassword(reference: string, input: unknown, actor: AuditActor): Promise<UserView> {
      const data = parseInput(setPasswordInput, input);
      refuseAccountWords(data.password, await findByIdOrLogin(reference));
      const hash = await passwords.hash(data.password);
      return transaction(async (tx) => {
        const user = await findByIdOrLogin(reference, tx);
        await tx.users.setPasswordHash(user.id, hash);
        await revokeEverything(tx, user.id);
        const view = viewUser(await byId(user.id, tx));
        // The audit record says that the password changed, never what to.
        await tx.audit.append(actor, { action: 'user.set_password', targetType: 'user', targetId: user.id, after: view });
        return view;
      }).then((view) => {
        deps.securityChanges?.announce(view.id, 'password_set', actor);
        return view;
      });
    },

    /**
     * A signed-in user changes their own password, giving the current one. Every other
     * session, and every grant and token of the user, ends as with setPassword; the
     * session the change was made in (`keepSessionUid`) stays signed in.
     */
    async changeOwnPassword(userId: string, input: unknown, actor: AuditActor, keepSessionUid: string): Promise<void> {
      const data = parseInput(changeOwnPasswordInput, input);
      const user = await byId(userId);
      if (Buffer.byteLength(data.current_password, 'utf8') > PASSWORD_MAX_BYTES || !(await passwords.verify(user.passwordHash, data.current_password))) {
        throw new AppError('invalid_input', 'The current password is incorrect.', [{ field: 'current_password', message: 'is incorrect' }]);
      }
      refuseAccountWords(data.new_password, user);
      const hash = await passwords.hash(data.new_password);
      await transaction(async (tx) => {
        // Changed by a concurrent request (the same form sent twice) since it was checked.
        if (!(await tx.users.replacePasswordHash(userId, user.passwordHash, hash))) {
          throw new AppError('conflict', 'The password was changed meanwhile; sign in again with the new one.');
        }
        await tx.users.markPasswordChanged(userId);
        const revoked = await tx.payloads.destroyByAccountIdExcept(userId, keepSessionUid);
        await tx.audit.append(actor, { action: 'user.change_password', targetType: 'user', targetId: userId, after: { artifacts_revoked: revoked } });
      });
      deps.securityChanges?.announce(userId, 'password_changed', actor);
    },

    /** A disabled user cannot sign in, and every session and token they hold ends now. */
    async setDisabled(reference: string, disabled: boolean, actor: AuditActor): Promise<UserView> {
      const user = await findByIdOrLogin(reference);
      return this.updateUser(user.id, { disabled }, actor);
    },

    async listSessions(userId: string): Promise<SessionView[]> {
      await byId(userId);
      const rows = await stores.payloads.listByAccount('Session', userId);
      return rows.map(({ payload, expiresAt }) => ({
        id: String(payload.uid),
        signed_in_at: epoch(payload.loginTs),
        expires_at: expiresAt?.toISOString() ?? null,
        clients: Object.keys((payload.authorizations as Record<string, unknown> | undefined) ?? {}),
      }));
    },

    /** Ends one session (by its id from listSessions) and the grants made in it. */
    async revokeSession(userId: string, sessionId: string, actor: AuditActor): Promise<void> {
      const ended = await transaction(async (tx) => {
        await byId(userId, tx);
        const session = (await tx.payloads.listByAccount('Session', userId)).find((row) => row.payload.uid === sessionId);
        if (!session) throw new AppError('not_found', `User ${userId} has no session ${sessionId}.`);
        await endSession(tx, session);
        await tx.audit.append(actor, { action: 'user.revoke_session', targetType: 'user', targetId: userId, before: { session: sessionId } });
        return session;
      });
      // Its clients are told (back-channel logout) once the session is really gone.
      deps.endedSessions?.announce([endedSession(userId, ended.payload)]);
    },

    /**
     * Ends every session of a user but `keepSessionUid` (the one asking), each with the
     * grants made in it, as revokeSession does one by one. Grants made in the kept
     * session stay. Returns how many sessions ended.
     */
    async revokeOtherSessions(userId: string, keepSessionUid: string, actor: AuditActor): Promise<number> {
      return transaction(async (tx) => {
        await byId(userId, tx);
        const others = (await tx.payloads.listByAccount('Session', userId)).filter((row) => row.payload.uid !== keepSessionUid);
        for (const session of others) await endSession(tx, session);
        await tx.audit.append(actor, {
          action: 'user.revoke_other_sessions', targetType: 'user', targetId: userId,
          before: { sessions: others.map((row) => String(row.payload.uid)) }, after: { kept: keepSessionUid },
        });
        return others.length;
      });
    },

    /** Ends every session, grant and token of a user. */
    async revokeAllSessions(userId: string, actor: AuditActor): Promise<void> {
      const ended = await transaction(async (tx) => {
        await byId(userId, tx);
        const sessions = await tx.payloads.listByAccount('Session', userId);
        const count = await revokeEverything(tx, userId);
        await tx.audit.append(actor, { action: 'user.revoke_all_sessions', targetType: 'user', targetId: userId, after: { artifacts_revoked: count } });
        return sessions;
      });
      deps.endedSessions?.announce(ended.map((row) => endedSession(userId, row.payload)));
    },

    async listGrants(userId: string): Promise<GrantView[]> {
      await byId(userId);
      const rows = await stores.payloads.listByAccount('Grant', userId);
      return rows.map(({ id, payload, expiresAt }) => ({
        id,
        client_id: String(payload.clientId),
        scope: String((payload.openid as { scope?: unknown } | undefined)?.scope ?? ''),
        resources: (payload.resources as Record<string, string> | undefined) ?? {},
        created_at: epoch(payload.iat),
        expires_at: expiresAt?.toISOString() ?? null,
      }));
    },

    /**
     * The clients a user let in, for the account page: each client's live grants (any
     * session's) and remembered consent together, since either lets the client back in.
     */
    async connectedApps(userId: string): Promise<ConnectedApp[]> {
      const apps = new Map<string, { scopes: Set<string>; since: number | undefined }>();
      const entry = (clientId: string) => apps.get(clientId) ?? apps.set(clientId, { scopes: new Set(), since: undefined }).get(clientId)!;
      const earliest = (current: number | undefined, value: number) => (current === undefined ? value : Math.min(current, value));
      for (const { clientId, scopes, createdAt } of await stores.consents.forUser(userId)) {
        const app = entry(clientId);
        scopes.forEach((scope) => app.scopes.add(scope));
        app.since = earliest(app.since, createdAt.getTime());
      }
      for (const grant of await this.listGrants(userId)) {
        const app = entry(grant.client_id);
        for (const scope of [grant.scope, ...Object.values(grant.resources)].join(' ').split(' ')) if (scope) app.scopes.add(scope);
        if (grant.created_at) app.since = earliest(app.since, Date.parse(grant.created_at));
      }
      return [...apps].map(([clientId, app]) => ({
        client_id: clientId,
        scopes: [...app.scopes],
        since: app.since === undefined ? null : new Date(app.since).toISOString(),
      }));
    },

    /** Revokes one grant and every code and token issued under it. */
    async revokeGrant(userId: string, grantId: string, actor: AuditActor): Promise<void> {
      await transaction(async (tx) => {
        await byId(userId, tx);
        const grant = (await tx.payloads.listByAccount('Grant', userId)).find((row) => row.id === grantId);
        if (!grant) throw new AppError('not_found', `User ${userId} has no grant ${grantId}.`);
        await tx.payloads.destroyByGrantId(grantId);
        await tx.audit.append(actor, { action: 'user.revoke_grant', targetType: 'user', targetId: userId, before: { grant: grantId, client_id: grant.payload.clientId } });
      });
    },

    /**
     * The user takes back a client's access: every grant they gave it (in any session),
     * every code and token issued under those, and the remembered consent, so the consent
     * page is shown again the next time the client asks.
     */
    async revokeClientAccess(userId: string, clientId: string, actor: AuditActor): Promise<void> {
      await transaction(async (tx) => {
        await byId(userId, tx);
        const grants = (await tx.payloads.listByAccount('Grant', userId)).filter((row) => row.payload.clientId === clientId);
        const consented = await tx.consents.scopes(userId, clientId);
        if (!grants.length && !consented) throw new AppError('not_found', 'That application has no access to your account.');
        for (const grant of grants) await tx.payloads.destroyByGrantId(grant.id);
        await tx.consents.forget(userId, clientId);
        await tx.audit.append(actor, {
          action: 'user.revoke_client_access', targetType: 'user', targetId: userId,
          before: { client_id: clientId, grants: grants.map((row) => row.id), consented_scopes: consented ?? [] },
        });
      });
    },
  };
}

/** Every claim an account can release; oidc-provider filters them by granted scope. */
export function accountClaims(user: UserRecord): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    ...user.claims,
    sub: user.id,
    email: user.email,
    email_verified: user.emailVerified,
    roles: user.roles,
    updated_at: Math.floor(user.updatedAt.getTime() / 1000),
  };
  if (user.username && claims.preferred_username === undefined) claims.preferred_username = user.username;
  return claims;
}
