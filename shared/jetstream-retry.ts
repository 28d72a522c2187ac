/**
 * nats-server (2.9) takes an account's service imports away while it applies a new JWT of
 * that account and gives them back at the end; the account's JetStream API is one of them. A
 * JetStream request sent in that moment has no responders, which nats.js reports as
 * "jetstream is not enabled". The hub's account JWT is pushed again whenever a workspace is
 * placed or deleted and whenever a session is revoked, so every connection in it meets such
 * moments. Nobody heard a request that had no responders: sending it again is safe. Pure:
 * the caller brings its connection and its timer (nats.js's `delay`).
 */

/** Waits between the tries of one request (ms): about 0.8 s in all. */
const BACKOFF = [25, 50, 100, 200, 400];

/** The part of a nats.js connection this wraps. */
interface Requester {
  request(subject: string, ...rest: never[]): Promise<unknown>;
}

function isNoResponders(err: unknown): boolean {
  const e = err as { isNoResponders?: () => boolean } | null;
  return typeof e?.isNoResponders === "function" && e.isNoResponders();
}

/**
 * Makes `nc`'s JetStream API requests (`$JS.…`) that find no responders try again for a
 * moment before failing as before. Other requests are untouched. Returns `nc`.
 */
export function retryJetStreamRequests<T extends Requester>(
  nc: T,
  delay: (ms: number) => Promise<unknown>,
): T {
  const request = nc.request.bind(nc) as (subject: string, ...rest: unknown[]) => Promise<unknown>;
  const retrying = async (subject: string, ...rest: unknown[]) => {
    for (let i = 0; ; i++) {
      try {
        return await request(subject, ...rest);
      } catch (err) {
        const wait = BACKOFF[i];
        if (!subject.startsWith("$JS.") || wait === undefined || !isNoResponders(err)) throw err;
        await delay(wait);
      }
    }
  };
  nc.request = retrying as T["request"];
  return nc;
}
