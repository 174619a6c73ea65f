// Group commit for the hottest statements. Under load, many requests want the same kind
// of statement at once (store a token, look one up); each statement sent through Prisma
// costs about a millisecond of CPU before PostgreSQL sees it, and each committed write
// waits for its own WAL flush. A batcher sends the first call at once and, while up to
// `inFlight` statements are running, gathers the calls that arrive into the next one. At
// low load nothing waits (a call finding a free slot goes out within the same tick); under load
// one statement carries many rows. Every caller still gets its own result only after its
// row was written or read, so nothing is acknowledged before it is committed.
//
// (DataLoader batches calls made in the same tick; calls from separate HTTP requests
// arrive in separate ticks, so batches have to form while statements are in flight.)

export interface BatcherOptions<I, O> {
  /** Runs one statement for the items; returns one result per item, in order. */
  run(items: I[]): Promise<O[]>;
  /** Statements of this kind running at once (keep under the connection pool size). */
  inFlight: number;
  /** Most items in one statement. */
  maxBatch: number;
  /**
   * Whether a failed batch should be retried one item at a time, so one bad item cannot
   * fail the others (false for outages, where every retry would fail the same way).
   */
  retrySingly(error: unknown): boolean;
}

interface Pending<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export function createBatcher<I, O>(options: BatcherOptions<I, O>): (item: I) => Promise<O> {
  const queue: Pending<I, O>[] = [];
  let running = 0;
  let drainScheduled = false;

  async function runBatch(batch: Pending<I, O>[]): Promise<void> {
    running += 1;
    try {
      const results = await options.run(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => entry.resolve(results[index]!));
    } catch (error) {
      if (batch.length > 1 && options.retrySingly(error)) {
        await Promise.all(batch.map((entry) => options.run([entry.item]).then(([result]) => entry.resolve(result!), entry.reject)));
      } else {
        for (const entry of batch) entry.reject(error);
      }
    } finally {
      running -= 1;
      drain();
    }
  }

  function drain(): void {
    while (queue.length && running < options.inFlight) void runBatch(queue.splice(0, options.maxBatch));
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      // Calls made by the same piece of work (oidc-provider looks a token up under three
      // models at once) share a statement: the queue is sent once the current job and
      // its promise reactions are done, not on the first call.
      if (!drainScheduled) {
        drainScheduled = true;
        process.nextTick(() => {
          drainScheduled = false;
          drain();
        });
      }
    });
}
