/**
 * The NATS side of workspace presence: the subscription to every page's presence subject,
 * kept across reconnects (a new client after a restart gets a new subscription), and
 * publishing on this page's own. The presence store owns one.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { presenceSubjects } from "../../../shared/subjects.js";
import type { WorkspaceConnection } from "./connection.js";

export interface PresenceChannel {
  /** Publishes on `account`'s presence subject; false when there is no connection yet. */
  send(account: string, body: string): boolean;
  stop(): void;
}

/**
 * Hears every page's presence messages into `heard`; `joined` runs whenever the channel has
 * a (new) subscription, so the page can say hello.
 */
export function openPresenceChannel(
  conn: WorkspaceConnection,
  heard: (subject: string, data: Uint8Array) => void,
  joined: () => void,
): PresenceChannel {
  const subjects = presenceSubjects(conn.wsid);
  const stopping = new AbortController();
  let nc: NatsConnection | undefined;
  let sub: Subscription | undefined;

  const listen = async () => {
    const current = await conn.ready(stopping.signal);
    if (!current || stopping.signal.aborted) return;
    if (current !== nc) {
      sub?.unsubscribe();
      nc = current;
      sub = current.subscribe(subjects.all, {
        callback: (err, m) => {
          if (!err) heard(m.subject, m.data);
        },
      });
    }
    joined();
  };
  void listen();
  const offReconnect = conn.onReconnect(() => void listen());

  return {
    send(account, body) {
      if (!nc || nc.isClosed()) return false;
      nc.publish(subjects.page(account), body);
      return true;
    },
    stop() {
      stopping.abort();
      offReconnect();
      sub?.unsubscribe();
    },
  };
}
