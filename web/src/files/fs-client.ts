/**
 * The page's client of the fs service: typed request/reply on `ws.<wsid>.req.fs` (what only
 * reads on `ws.<wsid>.read.fs`, where a hosted workspace's viewer may ask too), and the
 * live change feed `ws.<wsid>.feed.fs`, re-subscribed whenever the page gets a new NATS
 * client. Only stores use it; components never see NATS.
 */
import { randomId } from "../../../shared/base64url.js";
import { requestReply } from "../../../shared/command-client.js";
import type { ErrorPayload } from "../../../shared/errors.js";
import {
  FS_READ_OPS,
  type FsChange,
  type FsRequest,
  type FsResults,
} from "../../../shared/files.js";
import { ServiceNames, workspaceSubjects } from "../../../shared/subjects.js";
import { requestSender, unansweredError } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { delay, messageOf } from "../lib/delay.js";

/** A failed fs request, with the service's code (or ERR_COMMAND_TIMEOUT / ERR_INTERNAL). */
export class FsError extends Error {
  readonly code: string;
  constructor(payload: ErrorPayload) {
    super(payload.message);
    this.name = "FsError";
    this.code = payload.code;
  }
}

export function errorPayloadOf(err: unknown): ErrorPayload {
  if (err instanceof FsError)
    return { code: err.code as ErrorPayload["code"], message: err.message };
  return { code: "ERR_INTERNAL", message: messageOf(err) };
}

const DEFAULT_TIMEOUT_MS = 30_000;

export interface FsClient {
  /** Identifies this page to the service (watch leases). */
  readonly clientId: string;
  call<R extends FsRequest>(request: R, timeoutMs?: number): Promise<FsResults[R["op"]]>;
  /** Listens to the change feed; returns the unsubscribe. */
  onChange(listener: (change: FsChange) => void): () => void;
  /** Runs after every reconnect: what changed meanwhile was not heard. */
  onReconnect(listener: () => void): () => void;
  close(): void;
}

export function createFsClient(conn: WorkspaceConnection): FsClient {
  const subjects = workspaceSubjects(conn.wsid);
  const requestSubject = subjects.request(ServiceNames.fs);
  const readSubject = subjects.read(ServiceNames.fs);
  const feedSubject = subjects.feed(ServiceNames.fs);
  const clientId = randomId();
  const listeners = new Set<(change: FsChange) => void>();
  const stopping = new AbortController();

  // One feed subscription per NATS client, for as long as the page lives.
  void (async () => {
    while (!stopping.signal.aborted) {
      const nc = await conn.ready(stopping.signal);
      if (!nc) return;
      const sub = nc.subscribe(feedSubject);
      const stop = () => sub.unsubscribe();
      stopping.signal.addEventListener("abort", stop, { once: true });
      try {
        for await (const m of sub) {
          let change: FsChange;
          try {
            change = m.json<FsChange>();
          } catch {
            continue;
          }
          if (typeof change?.dir !== "string") continue;
          for (const l of [...listeners]) l(change);
        }
      } catch {
        // The client closed; a new one comes through ready().
      } finally {
        stopping.signal.removeEventListener("abort", stop);
      }
      await delay(250, stopping.signal);
    }
  })();

  return {
    clientId,
    async call(request, timeoutMs = DEFAULT_TIMEOUT_MS) {
      const reply = await requestReply<{ result: unknown }>(
        requestSender(conn),
        FS_READ_OPS.has(request.op) ? readSubject : requestSubject,
        request,
        {
          timeoutMs,
          unanswered: (err) =>
            new FsError(
              unansweredError(
                ServiceNames.fs,
                err,
                "the fs service is not running (it is being restarted?)",
              ),
            ),
        },
      );
      if (!reply.ok) throw new FsError(reply.error);
      return reply.result as never;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onReconnect: (listener) => conn.onReconnect(listener),
    close() {
      stopping.abort();
      listeners.clear();
    },
  };
}
