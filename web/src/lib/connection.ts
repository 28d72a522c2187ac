/**
 * The page's one NATS connection. It owns the socket for the life of the workspace page:
 * nats.js reconnects a dropped socket by itself; when the client gives up (closed, e.g.
 * because cocalc-plus restarted with new credentials) a fresh session is fetched and a new
 * client is dialled, so views resume without a reload.
 */
import { type Msg, type NatsConnection, type Status, wsconnect } from "@nats-io/nats-core";
import { type Accessor, createSignal } from "solid-js";
import { BrowserInbox } from "../../../shared/browser-permissions.js";
import { workspaceSubjects } from "../../../shared/subjects.js";
import { backoffMs, delay, messageOf } from "./delay.js";
import { natsSocket, natsUrl, type Session, type SessionResult } from "./session.js";
import type { MakeReader, ReaderSlots } from "./stream-reader.js";

export const ConnectionStates = [
  "connecting",
  "connected",
  "reconnecting",
  "disconnected",
  /** plus said it was stopping, then the connection went: it keeps trying all the same. */
  "stopped",
] as const;
export type ConnectionState = (typeof ConnectionStates)[number];

import type { AgentKeyStore } from "./agent-keys.js";

export interface WorkspaceConnection {
  readonly wsid: string;
  readonly version: string;
  /**
   * The JetStream domain of the workspace's streams and views: a launchpad host's, reached
   * through the hub; undefined on plus (the connection's own).
   */
  readonly jsDomain?: string;
  /** A launchpad workspace opened through the hub (plus's own services are not there). */
  readonly hosted?: boolean;
  /** The consumer names its readers must use (a hosted workspace's JWT names them). */
  readonly readers?: ReaderSlots;
  /** Who makes its readers' consumers (a hosted workspace's hub); the page itself without. */
  readonly makeReader?: MakeReader;
  /**
   * Who is at this page, as others see them (a hosted workspace's member: the account's
   * name and colour); without it, the browser is named after itself.
   */
  readonly person?: { name: string; color: string };
  /** The launchpad account at this page (a hosted workspace's member), once known. */
  readonly account?: string;
  /**
   * A member of the workspace by account, as the hosted page knows its members; undefined
   * for one it does not know (or on plus, whose one user is every page).
   */
  readonly memberPerson?: (account: string) => { name: string; color: string } | undefined;
  /**
   * Where agents' API keys are kept when not in the workspace's agents service (a hosted
   * workspace: the hub, per account, and per workspace for its owners).
   */
  readonly agentKeys?: AgentKeyStore;
  /** Its people may look, not change anything (a hosted workspace's viewer; NATS enforces). */
  readonly readOnly?: boolean;
  /** The window title the server asks for (a remote session: its target). */
  readonly title?: string;
  /** This plus is the remote side of a `cocalc-plus ssh` session to this target. */
  readonly remoteOf?: string;
  /** "connecting" until the first connect, then one of the other three. */
  readonly state: Accessor<ConnectionState>;
  /** Why the connection is not (or was not) healthy, for a tooltip. */
  readonly problem: Accessor<string | undefined>;
  /** A connected client, once there is one; undefined if `signal` aborts or the page closes. */
  ready(signal?: AbortSignal): Promise<NatsConnection | undefined>;
  /** Runs `listener` after every reconnect (same client or a new one); returns the unsubscribe. */
  onReconnect(listener: () => void): () => void;
  /** Request/reply on the current client; rejects when there is none. */
  request(subject: string, payload: string, timeoutMs: number): Promise<Msg>;
  close(): Promise<void>;
}

export interface ConnectionOptions {
  session: Session;
  /** Fetches the session again, for fresh credentials after the client was closed. */
  refreshSession(): Promise<SessionResult>;
  /** The credential is no longer valid: the page must ask the user to sign in again. */
  onSignedOut(): void;
}

export function openConnection(opts: ConnectionOptions): WorkspaceConnection {
  const [state, setConnState] = createSignal<ConnectionState>("connecting");
  // plus announces its stop (on a feed) just before it closes the tabs' sockets.
  let plusStopping = false;
  const setState = (next: ConnectionState) =>
    setConnState(plusStopping && next !== "connected" ? "stopped" : next);
  const [problem, setProblem] = createSignal<string>();
  const closing = new AbortController();
  const listeners = new Set<() => void>();
  const waiters = new Set<(nc: NatsConnection | undefined) => void>();
  let session = opts.session;
  let current: NatsConnection | undefined;

  function markConnected(nc: NatsConnection) {
    current = nc;
    plusStopping = false;
    setState("connected");
    setProblem(undefined);
    for (const resolve of [...waiters]) resolve(nc);
    waiters.clear();
  }

  function announceReconnect() {
    for (const listener of [...listeners]) listener();
  }

  async function followStatus(nc: NatsConnection) {
    for await (const s of nc.status()) onStatus(nc, s);
  }

  function onStatus(nc: NatsConnection, s: Status) {
    if (nc !== current) return;
    switch (s.type) {
      case "disconnect":
      case "reconnecting":
      case "staleConnection":
      case "forceReconnect":
        if (state() !== "reconnecting" && state() !== "stopped") setState("reconnecting");
        break;
      case "reconnect":
        markConnected(nc);
        announceReconnect();
        break;
      case "error":
        setProblem(messageOf(s.error));
        break;
      case "close":
        setState("disconnected");
        break;
      default:
        break;
    }
  }

  /** False when the page must stop dialling (signed out, or another workspace). */
  async function renewSession(): Promise<boolean> {
    const result = await opts.refreshSession();
    if (closing.signal.aborted) return false;
    if (result.ok) {
      if (result.session.wsid !== session.wsid) {
        // A different workspace answers on this origin now: start over.
        location.reload();
        return false;
      }
      session = result.session;
      return true;
    }
    if (result.reason === "signed-out") {
      opts.onSignedOut();
      return false;
    }
    return true; // the gateway is unreachable: keep trying with what we have
  }

  async function run() {
    let failures = 0;
    let connectedBefore = false;
    while (!closing.signal.aborted) {
      if (failures > 0) setState("reconnecting");
      let nc: NatsConnection;
      try {
        nc = await wsconnect({
          servers: natsUrl(session.natsPath),
          user: session.nats.user,
          pass: session.nats.pass,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
          name: "cocalc-plus web",
          wsFactory: natsSocket,
          // The browser's user may receive only here (not on `_INBOX.>`, the services').
          // Replies, pull consumers' and KV watches' deliveries all use this prefix.
          inboxPrefix: BrowserInbox,
        });
      } catch (err) {
        if (closing.signal.aborted) return;
        failures++;
        setState("disconnected");
        setProblem(messageOf(err));
        if (!(await renewSession())) return;
        await delay(backoffMs(failures), closing.signal);
        continue;
      }
      if (closing.signal.aborted) {
        await nc.close();
        return;
      }
      failures = 0;
      current = nc;
      void followStatus(nc);
      nc.subscribe(workspaceSubjects(session.wsid).plusFeed, {
        callback: () => {
          plusStopping = true;
        },
      });
      markConnected(nc);
      if (connectedBefore) announceReconnect();
      connectedBefore = true;

      const err = await nc.closed();
      current = undefined;
      if (closing.signal.aborted) return;
      failures++;
      setState("disconnected");
      setProblem(err ? messageOf(err) : "the connection was closed");
      if (!(await renewSession())) return;
      await delay(backoffMs(failures), closing.signal);
    }
  }

  void run();

  return {
    wsid: opts.session.wsid,
    version: opts.session.version,
    ...(opts.session.title !== undefined && { title: opts.session.title }),
    ...(opts.session.remoteOf !== undefined && { remoteOf: opts.session.remoteOf }),
    state,
    problem,
    ready(signal) {
      if (current && state() === "connected") return Promise.resolve(current);
      if (closing.signal.aborted || signal?.aborted) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const done = (nc: NatsConnection | undefined) => {
          waiters.delete(done);
          signal?.removeEventListener("abort", onAbort);
          resolve(nc);
        };
        const onAbort = () => done(undefined);
        waiters.add(done);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
    onReconnect(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    request(subject, payload, timeoutMs) {
      if (!current) return Promise.reject(new Error("not connected to the workspace"));
      return current.request(subject, payload, { timeout: timeoutMs });
    },
    async close() {
      closing.abort();
      for (const resolve of [...waiters]) resolve(undefined);
      waiters.clear();
      listeners.clear();
      const nc = current;
      current = undefined;
      setState("disconnected");
      await nc?.close();
    },
  };
}
