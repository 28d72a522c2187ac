/**
 * Requests whose responder reports progress before it answers: the requester asks for it with
 * the `Cocalc-Progress` header, the responder sends lines (messages with that header) to the
 * request's own reply subject, then its answer (without it). Nothing goes anywhere else: a
 * host's progress reaches only the one request it answers, through the control plane that
 * relays it. A requester that did not ask gets the answer alone (plain `nc.request`).
 */
import {
  createInbox,
  headers,
  type Msg,
  type NatsConnection,
  NoRespondersError,
  RequestError,
} from "@nats-io/nats-core";
import type { ProgressLine } from "../../shared/launchpad.js";

export const PROGRESS_HEADER = "Cocalc-Progress";

/** Whether the request asked for progress. */
export function wantsProgress(m: Msg): boolean {
  return m.reply !== undefined && m.headers?.get(PROGRESS_HEADER) === "1";
}

/** Sends one line of progress to the request's requester (nothing if it did not ask). */
export function sendProgress(m: Msg, p: ProgressLine): void {
  if (!wantsProgress(m)) return;
  const h = headers();
  h.set(PROGRESS_HEADER, "1");
  m.respond(JSON.stringify(p), { headers: h });
}

/** Whether a message on a progress request's inbox is progress (else it is the answer). */
export function isProgress(m: Msg): boolean {
  return m.headers?.get(PROGRESS_HEADER) === "1";
}

export interface ProgressRequestOptions {
  timeoutMs: number;
  onProgress(p: ProgressLine): void;
  /** The connection's inbox prefix (a joined host's connections have their own). */
  inboxPrefix?: string;
  /** Progress lines relayed at most (a responder cannot flood the requester). */
  maxLines?: number;
}

/**
 * `nc.request` that hands each progress line to `onProgress` and resolves with the answer.
 * No responders is a RequestError as with `nc.request`; the timeout counts from the last
 * message heard, so a long import that reports progress does not time out.
 */
export async function requestWithProgress(
  nc: NatsConnection,
  subject: string,
  data: string | Uint8Array,
  o: ProgressRequestOptions,
): Promise<Msg> {
  const prefix =
    o.inboxPrefix ?? (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
  const inbox = createInbox(prefix);
  const sub = nc.subscribe(inbox);
  const h = headers();
  h.set(PROGRESS_HEADER, "1");
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => sub.unsubscribe(), o.timeoutMs);
  };
  try {
    arm();
    nc.publish(subject, data, { reply: inbox, headers: h });
    let lines = 0;
    for await (const m of sub) {
      arm();
      if (m.headers?.hasError && m.headers.code === 503)
        throw new RequestError(`no responders: '${subject}'`, {
          cause: new NoRespondersError(subject),
        });
      if (isProgress(m)) {
        if (lines++ < (o.maxLines ?? 10_000)) {
          try {
            o.onProgress(m.json<ProgressLine>());
          } catch {}
        }
        continue;
      }
      return m;
    }
    throw new Error(`request to ${subject} timed out after ${o.timeoutMs} ms without a word`);
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
}
