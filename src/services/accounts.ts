// Users as the rest of Gatehouse sees them: creation with validation, sign-in by email or
// username, and the OIDC claims an account releases.
import { z } from 'zod';
import { AppError, invalidInput } from '../errors.js';
import type { UserRecord, UserStore } from '../stores/users.js';
import { PASSWORD_MAX_BYTES, passwordProblem, type PasswordHasher } from './passwords.js';
import { parseInput, roleName } from './validation.js';

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


export const newUserInput = z
  .object({
    email: z.email().max(254),
    username: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[\p{L}\p{N}._+-]+$/u, 'may hold letters, digits and . _ + - only (no @, so it can never look like an email address)')
      .optional(),
    password: z.string().refine((value) => !passwordProblem(value), { error: (issue) => passwordProblem(String(issue.input)) ?? '' }),
    email_verified: z.boolean().default(false),
    roles: z.array(roleName).max(100).default([]),
    claims: profileClaims.default({}),
  })
  .strict();

export type NewUserInput = z.input<typeof newUserInput>;

/** The public shape of a user: never the hash. */
export interface UserView {
  id: string;
  email: string;
  username: string | null;
  email_verified: boolean;
  disabled: boolean;
  roles: string[];
  claims: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export function viewUser(user: UserRecord): UserView {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    email_verified: user.emailVerified,
    disabled: user.disabled,
    roles: user.roles,
    claims: user.claims,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Usernames compare case- and width-insensitively (NFKC + lower case). */
export function normalizeUsername(username: string): string {
  return username.normalize('NFKC').toLowerCase();
}

export type AccountService = ReturnType<typeof createAccountService>;

export function createAccountService(deps: {
  users: UserStore;
  passwords: PasswordHasher;
  /** Ends every session and revokes every grant and token of a user. */
  revokeEverything(userId: string): Promise<void>;
}) {
  const { users, passwords, revokeEverything } = deps;

  async function findByIdOrLogin(reference: string): Promise<UserRecord> {
    const user = (await users.findById(reference))
      ?? (reference.includes('@') ? await users.findByEmail(normalizeEmail(reference)) : await users.findByUsername(normalizeUsername(reference)));
    if (!user) throw new AppError('not_found', 'No such user.');
    return user;
  }

  return {
    async createUser(input: unknown): Promise<UserView> {
      const { email, username, password, email_verified: emailVerified, roles, claims } = parseInput(newUserInput, input);
      const user = await users.create({
        email: normalizeEmail(email),
        username: username === undefined ? undefined : normalizeUsername(username),
        passwordHash: await passwords.hash(password),
        emailVerified,
        claims,
        roles: [...new Set(roles)],
      });
      return viewUser(user);
    },

    /**
     * Checks a login (email or username) and password. Returns the user only when both
     * match and the account is enabled; every failure looks the same to the caller and
     * costs one argon2 verification, so neither the answer nor its timing tells whether
     * the account exists.
     */
    async authenticate(login: string, password: string): Promise<UserRecord | undefined> {
      if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES || login.length > 254) {
        throw new AppError('invalid_input', 'The email, username or password is too long.');
      }
      if (login.includes('\u0000')) throw new AppError('invalid_input', 'The email or username contains a character that is not allowed.');
      const trimmed = login.trim();
      const user = trimmed.includes('@')
        ? await users.findByEmail(normalizeEmail(trimmed))
        : await users.findByUsername(normalizeUsername(trimmed));
      const ok = await passwords.verify(user?.passwordHash, password);
      if (!ok || !user || user.disabled) return undefined;
      if (user.passwordHash && passwords.needsRehash(user.passwordHash)) {
        // The cost parameters were raised since this hash was made: upgrade it now that
        // the plain password is at hand.
        await users.setPasswordHash(user.id, await passwords.hash(password));
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
    async setPassword(reference: string, password: string): Promise<UserView> {
      const problem = passwordProblem(password);
      if (problem) throw invalidInput([{ field: 'password', message: problem }]);
      const user = await findByIdOrLogin(reference);
      await users.setPasswordHash(user.id, await passwords.hash(password));
      await revokeEverything(user.id);
      return viewUser((await users.findById(user.id))!);
    },

    /** A disabled user cannot sign in, and every session and token they hold ends now. */
    async setDisabled(reference: string, disabled: boolean): Promise<UserView> {
      const user = await findByIdOrLogin(reference);
      const updated = await users.setDisabled(user.id, disabled);
      if (disabled) await revokeEverything(user.id);
      return viewUser(updated);
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
