/**
 * The dashboard's NATS connection. The page's own key (page-key.ts: made once per page, the
 * seed never leaves it) gets a short-lived user JWT from the hub (`/api/hub/nats`), and the
 * page connects through the gateway's /nats with its credential, its socket wrapped so that
 * the server's nonce is signed before nats.js answers it. Before the JWT expires, and whenever the
 * account's workspaces change what it must reach, the page asks for a new one and reconnects
 * with it (NATS applies a JWT's permissions at connect).
 */
import type { ConsumerInfo } from "@nats-io/jetstream";
import { type Msg, type NatsConnection, wsconnect } from "@nats-io/nats-core";
import { type Accessor, createSignal } from "solid-js";
import { type ErrorPayload, fromErrorPayload } from "../../../shared/errors.js";
import { readerNames, readerSubject } from "../../../shared/hub-permissions.js";
import { retryJetStreamRequests } from "../../../shared/jetstream-retry.js";
import type { NatsSocket } from "../../../shared/nats-page-key.js";
import { backoffMs, delay, messageOf } from "./delay.js";
import { pageSigner, renewPageKey } from "./page-key.js";
import { errorMessage, natsSocket, natsUrl, postJson } from "./session.js";
import { type ReaderAsk, ReaderSlots } from "./stream-reader.js";

/**
 * What a minted JWT lets the page reach: its workspaces, with the account's role and, once
 * placed, the host and its JetStream domain.
 */
export interface Covered {
  wsid: string;
  role?: string;
  hostId?: string;
  jsDomain?: string;
}

interface Login {
  jwt: string;
  inboxPrefix: string;
  expiresAt: number;
  natsPath: string;
  memberships: Covered[];
}

export interface HubConnection {
  /** The page's own nkey's public key (its seed never leaves the page); "" until it is made. */
  readonly publicKey: string;
  /** The consumer names of this page's readers (its JWT names them). */
  readonly readers: ReaderSlots;
  /** Asks the hub for a reader's consumer: of one of the hub's views, or of workspace `wsid`. */
  makeReader(ask: ReaderAsk, wsid?: string): Promise<ConsumerInfo>;
  readonly state: Accessor<"connecting" | "connected" | "reconnecting">;
  readonly problem: Accessor<string | undefined>;
  ready(signal?: AbortSignal): Promise<NatsConnection | undefined>;
  onReconnect(listener: () => void): () => void;
  /** Whether the current JWT reaches workspace `wsid` (on `hostId`). */
  covers(wsid: string, hostId?: string): boolean;
  /** What the current JWT says of workspace `wsid`, once there is one. */
  membership(wsid: string): Covered | undefined;
  /** A new JWT was minted (its memberships may differ). */
  onLogin(listener: () => void): () => void;
  /** Request/reply on the current client; rejects when there is none. */
  request(subject: string, payload: string, timeoutMs: number): Promise<Msg>;
  /** A new JWT (the account's workspaces changed), then a reconnect with it. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/** Refresh this long before the JWT expires. */
const EARLY_S = 60;

export interface HubConnectionOptions {
  /** Reach only this workspace (a workspace's page), not all of the account's. */
  wsid?: string;
}

export function openHubConnection(opts: HubConnectionOptions = {}): HubConnection {
  // The page's key (page-key.ts), known once it is made; a connection keeps the one it began with.
  const signer = pageSigner();
  let publicKey = "";
  const readers = new ReaderSlots([]);
  let readerSubjectOfPage = "";
  void signer.then((s) => {
    publicKey = s.key.publicKey;
    readers.fill(readerNames(publicKey));
    readerSubjectOfPage = readerSubject(publicKey);
  });
  const logins = new Set<() => void>();
  const [state, setState] = createSignal<"connecting" | "connected" | "reconnecting">("connecting");
  const [problem, setProblem] = createSignal<string>();
  const listeners = new Set<() => void>();
  const waiters = new Set<(nc: NatsConnection | undefined) => void>();
  const closing = new AbortController();
  let login: Login | undefined;
  let nc: NatsConnection | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  async function mint(): Promise<Login> {
    const res = await postJson("/api/hub/nats", {
      publicKey: (await signer).key.publicKey,
      ...(opts.wsid !== undefined && { wsid: opts.wsid }),
    });
    if (!res.ok) throw new Error(await errorMessage(res));
    return (await res.json()) as Login;
  }

  function loggedIn(l: Login) {
    login = l;
    schedule(l);
    for (const listener of [...logins]) listener();
  }

  function schedule(l: Login) {
    clearTimeout(timer);
    const ms = Math.max(5_000, (l.expiresAt - EARLY_S) * 1000 - Date.now());
    timer = setTimeout(() => void refresh().catch((err) => setProblem(messageOf(err))), ms);
  }

  let refreshing: Promise<void> | undefined;
  let lastRefresh = 0;
  /** One refresh at a time, and not more often than every two seconds. */
  function refresh(): Promise<void> {
    refreshing ??= (async () => {
      await delay(Math.max(0, lastRefresh + 2000 - Date.now()), closing.signal);
      try {
        loggedIn(await mint());
        // The authenticator reads `login` at each connect: this one uses the new JWT.
        await nc?.reconnect();
      } finally {
        lastRefresh = Date.now();
        refreshing = undefined;
      }
    })();
    return refreshing;
  }

  function connected(c: NatsConnection) {
    setState("connected");
    setProblem(undefined);
    for (const w of [...waiters]) w(c);
    waiters.clear();
  }

  async function follow(c: NatsConnection) {
    for await (const s of c.status()) {
      if (s.type === "disconnect" || s.type === "reconnecting") setState("reconnecting");
      else if (s.type === "reconnect") {
        connected(c);
        for (const l of [...listeners]) l();
      } else if (s.type === "error") setProblem(messageOf(s.error));
    }
  }

  async function run() {
    let failures = 0;
    while (!closing.signal.aborted) {
      try {
        const first = await mint();
        loggedIn(first);
        const s = await signer;
        const c = await wsconnect({
          servers: natsUrl(first.natsPath),
          // The JWT is read at each connect (a refresh may have brought a new one); the nonce
          // was signed by the socket's wrapper before nats.js saw it.
          authenticator: (nonce) => ({ jwt: login!.jwt, ...s.auth(nonce) }),
          inboxPrefix: first.inboxPrefix,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
          name: opts.wsid === undefined ? "cocalc-launchpad dashboard" : `workspace ${opts.wsid}`,
          wsFactory: async (u) => {
            const { socket, encrypted } = await natsSocket(u);
            return {
              socket: s.wrap(socket as unknown as NatsSocket) as unknown as WebSocket,
              encrypted,
            };
          },
        });
        // The hub's account JWT changes under it (shared/jetstream-retry.ts).
        nc = retryJetStreamRequests(c, (ms) => delay(ms));
        failures = 0;
        void follow(c);
        connected(c);
        const err = await c.closed();
        nc = undefined;
        if (closing.signal.aborted) return;
        setProblem(err ? messageOf(err) : "the connection was closed");
      } catch (err) {
        if (closing.signal.aborted) return;
        setProblem(messageOf(err));
      }
      failures++;
      setState("reconnecting");
      await delay(backoffMs(failures), closing.signal);
    }
  }
  void run();

  return {
    get publicKey() {
      return publicKey;
    },
    readers,
    async makeReader(ask, wsid) {
      const c = nc;
      if (!c) throw new Error("not connected to the hub");
      const m = await c.request(
        readerSubjectOfPage,
        JSON.stringify({ ...ask, ...(wsid !== undefined && { wsid }) }),
        { timeout: 15_000 },
      );
      const r = m.json<{ ok: true; info: ConsumerInfo } | { ok: false; error: ErrorPayload }>();
      if (!r.ok) throw fromErrorPayload(r.error);
      return r.info;
    },
    state,
    problem,
    ready(signal) {
      if (nc && state() === "connected") return Promise.resolve(nc);
      if (closing.signal.aborted || signal?.aborted) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const done = (c: NatsConnection | undefined) => {
          waiters.delete(done);
          resolve(c);
        };
        waiters.add(done);
        signal?.addEventListener("abort", () => done(undefined), { once: true });
      });
    },
    onReconnect(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    covers(wsid, hostId) {
      return (
        login?.memberships.some(
          (m) => m.wsid === wsid && (hostId === undefined || m.hostId === hostId),
        ) ?? false
      );
    },
    membership(wsid) {
      return login?.memberships.find((m) => m.wsid === wsid);
    },
    onLogin(listener) {
      logins.add(listener);
      return () => logins.delete(listener);
    },
    request(subject, payload, timeoutMs) {
      if (!nc) return Promise.reject(new Error("not connected to the hub"));
      return nc.request(subject, payload, { timeout: timeoutMs });
    },
    refresh,
    async close() {
      closing.abort();
      // Signing out revokes this key; the next sign-in in this page gets a new one, made now.
      renewPageKey();
      clearTimeout(timer);
      for (const w of [...waiters]) w(undefined);
      await nc?.close();
    },
  };
}
