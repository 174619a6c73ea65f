// Moves every sealed value in the database under the current SECRET_KEY, the step of a
// key rotation between "every instance runs with SECRET_KEY=new, SECRET_KEY_PREVIOUS=old"
// and "drop SECRET_KEY_PREVIOUS".
//
// Everything is opened first; if any value opens with no configured key, nothing is
// written and the error says how many and where (dropping the key that sealed them would
// lose them for good). Writes then go in small transactions of conditional updates, so
// running instances are never blocked for long and a value they rewrote meanwhile (under
// the current key) is not overwritten. Values already under the current key are not
// touched: a second run writes nothing.
import { SealedValueError, type SecretBox } from '../crypto/secret-box.js';
import type { AuditActor } from '../stores/audit.js';
import { SEALED_LOCATIONS, type SealedLocation, type SealedValue } from '../stores/sealed-values.js';
import type { Db } from '../stores/roles.js';
import type { Transaction } from './transaction.js';

const BATCH_SIZE = 200;
/** Row references named per location in the error; the count is always complete. */
const REFS_SHOWN = 5;

export interface ResealReport {
  /** Id of the current SECRET_KEY, which every sealed value is now under. */
  key_id: string;
  resealed: number;
  already_current: number;
  locations: Record<string, { resealed: number; already_current: number }>;
}

/** Sealed values that no configured key opens; the reseal changed nothing. */
export class UnopenableSealedValuesError extends Error {
  constructor(readonly counts: Record<string, { count: number; refs: string[] }>) {
    const total = Object.values(counts).reduce((sum, entry) => sum + entry.count, 0);
    const where = Object.entries(counts)
      .map(([location, entry]) => `  ${location}: ${entry.count} (${entry.refs.join(', ')}${entry.count > entry.refs.length ? ', …' : ''})`)
      .join('\n');
    super(
      `${total} sealed value${total === 1 ? '' : 's'} cannot be opened with SECRET_KEY or any key in SECRET_KEY_PREVIOUS; nothing was changed.\n${where}\n`
      + 'Add the key they were sealed under to SECRET_KEY_PREVIOUS and run the reseal again.',
    );
    this.name = 'UnopenableSealedValuesError';
  }
}

export type ResealService = ReturnType<typeof createResealService>;

export function createResealService(deps: {
  db: Db;
  transaction: Transaction;
  secretBox: SecretBox;
  locations?: readonly SealedLocation[];
}) {
  const { secretBox } = deps;
  const locations = deps.locations ?? SEALED_LOCATIONS;

  return {
    async reseal(actor: AuditActor): Promise<ResealReport> {
      // Pass 1: open everything, write nothing.
      const plans: Array<{ location: SealedLocation; pending: Array<{ value: SealedValue; resealed: string }>; current: number }> = [];
      const unopenable: Record<string, { count: number; refs: string[] }> = {};
      for (const location of locations) {
        const plan = { location, pending: [] as Array<{ value: SealedValue; resealed: string }>, current: 0 };
        for (const value of await location.list(deps.db)) {
          let plaintext: string;
          try {
            plaintext = secretBox.open(value.sealed, location.purpose);
          } catch (error) {
            if (!(error instanceof SealedValueError)) throw error;
            const entry = (unopenable[location.name] ??= { count: 0, refs: [] });
            entry.count += 1;
            if (entry.refs.length < REFS_SHOWN) entry.refs.push(value.ref);
            continue;
          }
          if (secretBox.isCurrent(value.sealed)) plan.current += 1;
          else plan.pending.push({ value, resealed: secretBox.seal(plaintext, location.purpose) });
        }
        plans.push(plan);
      }
      if (Object.keys(unopenable).length > 0) throw new UnopenableSealedValuesError(unopenable);

      // Pass 2: write in small transactions.
      const report: ResealReport = { key_id: secretBox.keyId, resealed: 0, already_current: 0, locations: {} };
      for (const { location, pending, current } of plans) {
        let resealed = 0;
        for (let start = 0; start < pending.length; start += BATCH_SIZE) {
          const batch = pending.slice(start, start + BATCH_SIZE);
          resealed += await deps.transaction(async (tx) => {
            let replaced = 0;
            for (const { value, resealed: next } of batch) if (await location.replace(tx.db, value, next)) replaced += 1;
            return replaced;
          });
        }
        report.locations[location.name] = { resealed, already_current: current };
        report.resealed += resealed;
        report.already_current += current;
      }
      if (report.resealed > 0) {
        await deps.transaction((tx) => tx.audit.append(actor, {
          action: 'secrets.reseal', targetType: 'secret_key', targetId: report.key_id, after: { resealed: report.resealed, locations: report.locations },
        }));
      }
      return report;
    },
  };
}
