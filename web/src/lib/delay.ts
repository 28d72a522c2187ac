/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Exponential backoff with jitter: ~250 ms after the first failure, capped at `maxMs`. */
export function backoffMs(failures: number, maxMs = 10_000): number {
  if (failures <= 0) return 0;
  const base = Math.min(maxMs, 250 * 2 ** Math.min(failures - 1, 10));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** The message of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
