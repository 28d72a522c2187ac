/**
 * The hub's reader service: a browser never makes a consumer itself (a consumer's body could
 * name any deliver subject, which nats-server does not check against the browser's
 * permissions); it asks here, on `hubread.<its key>` (a subject only that key may publish
 * to), and the hub makes a pull consumer with one of the browser's own names and a filter
 * its account may read (shared/hub-permissions.ts readerPlan), on the hub's JetStream or on
 * the workspace's host. The browser then pulls from it, looks at it and deletes it by name.
 */
import { AckPolicy, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { type Msg, type NatsConnection, nanos } from "@nats-io/nats-core";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  ALL_READER_REQUESTS,
  type Membership,
  type ReaderRequest,
  readerPlan,
} from "../../shared/hub-permissions.js";
import type { Logger } from "../runtime/logger.js";

/** A reader's consumer goes by itself after this long without a pull. */
const INACTIVE_MS = 60_000;
/** How long an account's memberships, once read, answer its reader requests. */
const MEMBERSHIPS_FOR_MS = 1_000;

export interface ReadersOptions {
  nc: NatsConnection;
  /** The account a browser key was minted for, while its JWTs may still be valid. */
  accountOfKey(userNkeyPublic: string): string | undefined;
  /** The account's memberships (with their hosts' domains). */
  memberships(accountId: string): Promise<Membership[]>;
  hubDomain: string;
  log: Logger;
}

export function startReaders(o: ReadersOptions): { stop(): Promise<void> } {
  const managers = new Map<string, Promise<JetStreamManager>>();
  const manager = (domain: string) => {
    let m = managers.get(domain);
    if (!m) {
      m = jetstreamManager(o.nc, {
        ...(domain !== o.hubDomain && { domain }),
        checkAPI: false,
      });
      managers.set(domain, m);
    }
    return m;
  };

  // A page makes its readers in bursts (a dashboard's rows, a workspace's views): the
  // account's memberships are read once for a burst.
  const recent = new Map<string, { at: number; of: Promise<Membership[]> }>();
  const membershipsOf = (accountId: string) => {
    const now = Date.now();
    const hit = recent.get(accountId);
    if (hit && now - hit.at < MEMBERSHIPS_FOR_MS) return hit.of;
    const of = o.memberships(accountId);
    recent.set(accountId, { at: now, of });
    of.catch(() => recent.delete(accountId));
    if (recent.size > 1000)
      for (const [k, v] of recent) if (now - v.at >= MEMBERSHIPS_FOR_MS) recent.delete(k);
    return of;
  };

  async function answer(m: Msg): Promise<unknown> {
    const key = m.subject.split(".")[1] ?? "";
    const accountId = o.accountOfKey(key);
    if (accountId === undefined)
      throw new CocalcError("ERR_GATEWAY_AUTH", "this browser key is not signed in");
    let req: ReaderRequest;
    try {
      req = m.json<ReaderRequest>();
    } catch {
      throw new CocalcError("ERR_HUB_NATS_INPUT", "the reader request is not JSON");
    }
    const plan = readerPlan(req, {
      userNkeyPublic: key,
      accountId,
      memberships: await membershipsOf(accountId),
      hubDomain: o.hubDomain,
    });
    const jsm = await manager(plan.domain);
    const info = await jsm.consumers.add(plan.stream, {
      ...plan.config,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(INACTIVE_MS),
    } as Parameters<JetStreamManager["consumers"]["add"]>[1]);
    return { ok: true, info };
  }

  const sub = o.nc.subscribe(ALL_READER_REQUESTS, {
    queue: "hub-readers",
    callback: (_err, m) => {
      void answer(m).then(
        (reply) => m.respond(JSON.stringify(reply)),
        (err: unknown) => {
          const error = toErrorPayload(err);
          if (error.code === "ERR_INTERNAL") o.log.warn({ err }, "reader refused");
          m.respond(JSON.stringify({ ok: false, error }));
        },
      );
    },
  });
  return {
    async stop() {
      await sub.drain().catch(() => undefined);
    },
  };
}
