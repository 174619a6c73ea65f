// Work done after a response has been sent (mail that must not delay or shape the
// answer). Failures are logged, never thrown; idle() lets shutdown wait for what is left.
import type { Logger } from '../logger.js';

export function createBackground(logger: Logger) {
  const pending = new Set<Promise<void>>();
  return {
    run(label: string, task: () => Promise<void>): void {
      const running = (async () => {
        // A turn of the event loop first, so the response goes out before any of this work.
        await new Promise((resolve) => setImmediate(resolve));
        await task();
      })().catch((error: unknown) => logger.warn({ err: error, task: label }, 'background task failed'));
      pending.add(running);
      void running.finally(() => pending.delete(running));
    },
    async idle(): Promise<void> {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
}

export type Background = ReturnType<typeof createBackground>;
