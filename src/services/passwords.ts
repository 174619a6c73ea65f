// Password hashing with argon2id at OWASP's minimum (m=19 MiB, t=2, p=1; ASVS 11.4.2).
// Hashing is the most expensive thing Gatehouse does (~20 ms of a core and 19 MiB each),
// so the number of hashes in flight is bounded: a login flood queues, and past the queue
// it is refused with 503 instead of exhausting memory and starving other endpoints.
import argon2 from 'argon2';
import { AppError } from '../errors.js';

export const HASH_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** NIST SP 800-63B: at least 8 characters, long passphrases welcome, hard cap before hashing. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_BYTES = 1024;

export function passwordProblem(password: string): string | undefined {
  if ([...password].length < PASSWORD_MIN_LENGTH) return `must be at least ${PASSWORD_MIN_LENGTH} characters long`;
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) return `must be at most ${PASSWORD_MAX_BYTES} bytes long`;
  return undefined;
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
        throw new AppError('unavailable', 'Too many sign-ins are being processed; try again in a moment.');
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
