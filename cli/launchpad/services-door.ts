/**
 * The door of a host's per-workspace services (fs with its reads and transfers, docs,
 * terminals, agents, kernels, apps): what answers a request to a workspace whose services are not up (just
 * made, or the host just started again). A workspace's services start a moment after it
 * is provisioned (once its view says so); a request sent right after the create's answer
 * found nobody yet and timed out. Now it waits for them, or gets a coded answer.
 *
 * While a workspace's services are not up, the door is a member of each service's queue
 * group (the services subscribe with their subject as the queue): every request goes to the
 * door or to a service that has subscribed, never both. The door holds what it gets and,
 * once the services are up, leaves the group and sends each request again with its own reply
 * subject, so the service answers it exactly once. A workspace the view does not show yet is
 * looked up in the host's lifecycle events (recorded before the create answered). Held longer
 * than `waitMs`: ERR_WORKSPACE_STATE "starting"; deleted meanwhile: ERR_WORKSPACE_NOT_FOUND.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Logger } from "../../services/runtime/logger.js";
import type { ErrorPayload } from "../../shared/errors.js";
import { TRANSFER_REQUESTS } from "../../shared/file-transfer.js";
import {
  AllWorkspaces,
  ServiceNames,
  Streams,
  workspaceSubjects,
  wsidOfSubject,
} from "../../shared/subjects.js";

/** The subjects of one workspace's services, as their queue groups. */
const serviceSubjects = (wsid: string) => {
  const s = workspaceSubjects(wsid);
  return [
    s.command(ServiceNames.docs),
    s.command(ServiceNames.terminals),
    s.command(ServiceNames.agents),
    s.command(ServiceNames.kernels),
    s.command(ServiceNames.apps),
    s.request(ServiceNames.fs),
    s.read(ServiceNames.fs),
    s.read(ServiceNames.apps),
    s.request(TRANSFER_REQUESTS),
    s.request(ServiceNames.agents),
    s.request(ServiceNames.kernels),
  ];
};

export interface ServicesDoorOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  hostId: string;
  log: Logger;
  /** Answer requests to workspaces this host does not have (ERR_WORKSPACE_NOT_FOUND). */
  answerUnknown: boolean;
  /** Whether the workspace's services answer now. */
  up(wsid: string): boolean;
  /** How long a request waits for the services (default 30 s). */
  waitMs?: number;
}

export interface ServicesDoor {
  /** The workspace is on this host and its services are not up: hold its requests. */
  expect(wsid: string): void;
  /** Its services answer now: they get what was held. */
  open(wsid: string): void;
  /** It is gone: what was held is answered ERR_WORKSPACE_NOT_FOUND. */
  gone(wsid: string): void;
  stop(): void;
}

interface Waiting {
  subs: Subscription[];
  held: { m: Msg; timer: NodeJS.Timeout }[];
}

export function servicesDoor(o: ServicesDoorOptions): ServicesDoor {
  const waitMs = o.waitMs ?? 30_000;
  const waiting = new Map<string, Waiting>();
  const answer = (m: Msg, error: ErrorPayload) => {
    if (m.reply) m.respond(JSON.stringify({ ok: false, error }));
  };
  const notFound = (wsid: string): ErrorPayload => ({
    code: "ERR_WORKSPACE_NOT_FOUND",
    message: `no workspace ${wsid} on host ${o.hostId}: create it first`,
  });
  const hold = (wsid: string, m: Msg) => {
    const w = waiting.get(wsid);
    if (!w) return false;
    const entry = {
      m,
      timer: setTimeout(() => {
        w.held.splice(w.held.indexOf(entry), 1);
        answer(m, {
          code: "ERR_WORKSPACE_STATE",
          message: `workspace ${wsid} is starting: its services are not up yet; try again in a moment`,
        });
      }, waitMs),
    };
    w.held.push(entry);
    return true;
  };
  const expect = (wsid: string) => {
    if (waiting.has(wsid) || o.up(wsid)) return;
    const subs = serviceSubjects(wsid).map((subject) =>
      o.nc.subscribe(subject, {
        queue: subject,
        callback: (err, m) => {
          if (!err && m.reply) hold(wsid, m);
        },
      }),
    );
    waiting.set(wsid, { subs, held: [] });
  };
  /** Leaves the queue groups; what was held, to `send`. */
  const close = (wsid: string, send: (m: Msg) => void) => {
    const w = waiting.get(wsid);
    if (!w) return;
    waiting.delete(wsid);
    // Unsubscribed before the requests go again (one connection: in this order at the server).
    for (const s of w.subs) s.unsubscribe();
    for (const { m, timer } of w.held) {
      clearTimeout(timer);
      send(m);
    }
  };
  const open = (wsid: string) =>
    close(wsid, (m) =>
      o.nc.publish(m.subject, m.data, {
        ...(m.reply && { reply: m.reply }),
        ...(m.headers && { headers: m.headers }),
      }),
    );
  const gone = (wsid: string) => close(wsid, (m) => answer(m, notFound(wsid)));
  const stopping = (wsid: string) =>
    close(wsid, (m) =>
      answer(m, {
        code: "ERR_WORKSPACE_STATE",
        message: `workspace ${wsid}: its host is stopping; try again when it is back`,
      }),
    );

  /** Whether this host recorded the workspace and did not delete it (its lifecycle events). */
  const recorded = async (wsid: string): Promise<boolean> => {
    const subject = workspaceSubjects(wsid).hostLife;
    const get = (q: { last_by_subj: string } | { seq: number; next_by_subj: string }) =>
      o.jsm.streams.getMessage(Streams.WORKSPACES, q).catch(() => null);
    const last = await get({ last_by_subj: subject });
    if (!last || last.json<{ type: string }>().type === "WorkspaceDeleted") return false;
    // Its first event names the host (hosts on one NATS share the stream).
    const first = await get({ seq: 1, next_by_subj: subject });
    return first?.json<{ data?: { hostId?: string } }>().data?.hostId === o.hostId;
  };
  // A request to a workspace nobody expects (the view has not shown it yet, or it does not
  // exist): the services and the door above are not in the group yet, so nobody else has it.
  const strangers = [
    AllWorkspaces.command(ServiceNames.docs),
    AllWorkspaces.command(ServiceNames.terminals),
    AllWorkspaces.command(ServiceNames.agents),
    AllWorkspaces.command(ServiceNames.kernels),
    AllWorkspaces.command(ServiceNames.apps),
    AllWorkspaces.request(ServiceNames.fs),
    AllWorkspaces.request(ServiceNames.agents),
    AllWorkspaces.request(ServiceNames.kernels),
    // Not reads and transfers: this sees every one of them, of every workspace of every host
    // whose subjects pass here (an upload's every chunk), for the sake of a workspace made a
    // moment ago; once expected, the door holds those too.
  ].map((subject) =>
    o.nc.subscribe(subject, {
      callback: (err, m) => {
        const wsid = wsidOfSubject(m.subject);
        if (err || !m.reply || !wsid || waiting.has(wsid) || o.up(wsid)) return;
        void recorded(wsid).then((has) => {
          if (has) {
            // Not expected yet when it came: nobody has it. Held, and sent on when up.
            if (!waiting.has(wsid) && !o.up(wsid)) expect(wsid);
            if (o.up(wsid)) open(wsid);
            if (!hold(wsid, m))
              o.nc.publish(m.subject, m.data, {
                reply: m.reply!,
                ...(m.headers && { headers: m.headers }),
              });
          } else if (o.answerUnknown) answer(m, notFound(wsid));
        });
      },
    }),
  );
  return {
    expect,
    open,
    gone,
    stop() {
      for (const s of strangers) s.unsubscribe();
      for (const wsid of [...waiting.keys()]) stopping(wsid);
    },
  };
}
