/**
 * Slows guessing: after FREE failed sign-ins of one account or from one address within the
 * window, each further attempt must wait, doubling from 1 s up to 15 minutes. A success clears
 * the account's count (not the address's: one address guessing many accounts stays slow).
 * Kept in memory: a restart of the hub forgets it, which costs a guesser a restart per burst.
 * The same counting slows the accounts made from one address in open sign-up (each one made
 * counts, with more free ones: a class signing up at once from one school's address).
 */
import { CocalcError } from "../../shared/errors.js";

const FREE = 5;
const WINDOW_MS = 15 * 60_000;
const MAX_WAIT_MS = 15 * 60_000;

interface Failures {
  count: number;
  first: number;
  last: number;
}

export class SignInLimiter {
  private readonly failures = new Map<string, Failures>();

  constructor(
    private readonly now: () => number = Date.now,
    /** Counted events within the window before any wait. */
    private readonly free = FREE,
  ) {}

  /**
   * Throws ERR_HUB_RATE_LIMITED (with the seconds to wait) when `keys` must wait; `what` is
   * what there were too many of, for its message.
   */
  check(keys: readonly string[], what = "failed sign-ins"): void {
    const t = this.now();
    let wait = 0;
    for (const key of keys) {
      const f = this.current(key, t);
      if (!f || f.count < this.free) continue;
      const delay = Math.min(MAX_WAIT_MS, 1000 * 2 ** (f.count - this.free));
      wait = Math.max(wait, f.last + delay - t);
    }
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      const err = new CocalcError(
        "ERR_HUB_RATE_LIMITED",
        `too many ${what}: try again in ${seconds} s`,
      );
      (err as CocalcError & { retryAfterSeconds: number }).retryAfterSeconds = seconds;
      throw err;
    }
  }

  failed(keys: readonly string[]): void {
    const t = this.now();
    for (const key of keys) {
      const f = this.current(key, t) ?? { count: 0, first: t, last: t };
      this.failures.set(key, { count: f.count + 1, first: f.first, last: t });
    }
    if (this.failures.size > 100_000) this.sweep(t);
  }

  succeeded(key: string): void {
    this.failures.delete(key);
  }

  private current(key: string, t: number): Failures | undefined {
    const f = this.failures.get(key);
    if (f && t - f.last > WINDOW_MS) {
      this.failures.delete(key);
      return undefined;
    }
    return f;
  }

  private sweep(t: number): void {
    for (const [key, f] of this.failures) if (t - f.last > WINDOW_MS) this.failures.delete(key);
  }
}
