// Password hashing with argon2id at OWASP's minimum (m=19 MiB, t=2, p=1; ASVS 11.4.2).
// Hashing is the most expensive thing Gatehouse does (~20 ms of a core and 19 MiB each),
// so the number of hashes in flight is bounded: a login flood queues, and past the queue
// it is refused with 503 instead of exhausting memory and starving other endpoints.
import { dictionary } from '@zxcvbn-ts/language-common';
import argon2 from 'argon2';
import { AppError } from '../errors.js';

export const HASH_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** NIST SP 800-63B: at least 8 characters, long passphrases welcome, hard cap before hashing. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_BYTES = 1024;

// NIST SP 800-63B §3.1.1.2: no composition rules, but no password that attackers try
// first. The list shipped with zxcvbn-ts (about 49,000 passwords seen in breaches, most
// common first) is the blocklist; words naming this service are refused too.
const COMMON_PASSWORDS = new Set(dictionary['passwords-common'] as string[]);
const SERVICE_WORDS = ['gatehouse'];

/**
 * Why a password may not be used, or undefined when it may. `context` holds words tied to
 * the account (the email's local part, the username): a password built on them is refused.
 */
export function passwordProblem(password: string, context: readonly string[] = []): string | undefined {
  if ([...password].length < PASSWORD_MIN_LENGTH) return `must be at least ${PASSWORD_MIN_LENGTH} characters long`;
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) return `must be at most ${PASSWORD_MAX_BYTES} bytes long`;
  const folded = password.normalize('NFKC').toLowerCase();
  // "password1234" and "qwertyuiop12!" are the listed word with digits or symbols around it.
  const core = folded.replace(/^[\d\W_]+|[\d\W_]+$/gu, '');
  if (COMMON_PASSWORDS.has(folded) || (core.length >= 4 && COMMON_PASSWORDS.has(core))) {
    return 'is too common: it is on lists of passwords attackers try first; choose a longer or less predictable one';
  }
  const words = [...SERVICE_WORDS, ...context.map((word) => word.normalize('NFKC').toLowerCase())].filter((word) => word.length >= 4);
  if (words.some((word) => folded.includes(word))) return 'must not contain the name of this service, your email address or your username';
  return undefined;
}

/** The words of an account a password must not be built on. */
export function accountWords(account: { email?: string | undefined; username?: string | null | undefined }): string[] {
  return [account.email?.split('@')[0] ?? '', account.username ?? ''].filter(Boolean);
}

class Semaphore {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    private readonly limit: number,
    private readonly maxQueue: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) {
      if (this.#waiting.length >= this.maxQueue) {
        // Retry-After for every surface: pages set their own, the admin API copies these headers.
        throw new AppError('unavailable', 'Too many sign-ins are being processed; try again in a moment.', [], { 'Retry-After': '5' });
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active += 1;
    }
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active -= 1;
    }
  }
}

export class PasswordHasher {
  readonly #gate: Semaphore;
  #dummyHash: Promise<string> | undefined;

  /** The defaults match HASH_CONCURRENCY and HASH_QUEUE_LIMIT's; the server passes the configured values. */
  constructor(options: { concurrency?: number; maxQueue?: number } = {}) {
    this.#gate = new Semaphore(options.concurrency ?? 4, options.maxQueue ?? 256);
  }

  hash(password: string): Promise<string> {
    return this.#gate.run(() => argon2.hash(normalize(password), HASH_OPTIONS));
  }

  /**
   * Verifies a password against a stored hash. With no hash (unknown user, or a user
   * without a password) it verifies against a dummy hash anyway, so the response time
   * does not reveal whether the account exists.
   */
  async verify(storedHash: string | null | undefined, password: string): Promise<boolean> {
    const hash = storedHash ?? (await this.#dummy());
    const ok = await this.#gate.run(() => argon2.verify(hash, normalize(password)).catch(() => false));
    return ok && Boolean(storedHash);
  }

  needsRehash(storedHash: string): boolean {
    return argon2.needsRehash(storedHash, HASH_OPTIONS);
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= argon2.hash('gatehouse-dummy-password', HASH_OPTIONS);
    return this.#dummyHash;
  }
}

/** RFC 8265 OpaqueString: compare passwords in NFC so the same text typed differently matches. */
function normalize(password: string): string {
  return password.normalize('NFC');
}
