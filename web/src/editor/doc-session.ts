/**
 * One open document in the page: the NATS side of an editor. OpenDocument, then the newest
 * snapshot and the stream after it; local edits go out as PatchDocument commands (one in
 * flight, the rest batched), incoming patches are rebased over what is not stored yet.
 * Cursors and selections go over core NATS (presence), never stored. Re-follows the stream
 * after reconnects from where it was.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { Value } from "@sinclair/typebox/value";
import { randomId } from "../../../shared/base64url.js";
import {
  DOC_PRESENCE_MS,
  DocClient,
  type DocPresence,
  DocPresenceSchema,
  type DocSnapshot,
  DocSync,
  type DocumentEvent,
  DocumentEvents,
  type DocView,
  type OpenDocumentResult,
  restoreUnstored,
  type Unstored,
} from "../../../shared/docs.js";
import { EventRegistry } from "../../../shared/envelope.js";
import { CocalcError, type ErrorPayload } from "../../../shared/errors.js";
import { Buckets, docSubjects, Keys, ServiceNames, Streams } from "../../../shared/subjects.js";
import { sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { backoffMs, delay, messageOf } from "../lib/delay.js";
import { watchKv } from "../lib/kv-watch.js";
import { pagePerson } from "../lib/page-person.js";
import { openReader, type Reader } from "../lib/stream-reader.js";
import { openView } from "../lib/views.js";

const registry = new EventRegistry<DocumentEvent>(DocumentEvents);
/** Keystrokes within this long go out as one patch. */
const BATCH_MS = 4;

/** What the editor is told. */
export interface DocSessionHooks {
  /** The text was replaced by a rebase of remote patches: `text` is the new local text. */
  remote(text: string): void;
  /** Loaded (first text), or a problem following the stream. */
  status(status: "loading" | "ready" | "error", problem?: string): void;
  /** The docs view changed (saved sequence, file deleted). */
  view(view: DocView | undefined): void;
  /** Others' cursors and selections. */
  presence(others: readonly DocPresence[]): void;
  /** Stored / not stored changed. */
  synced(synced: boolean): void;
}

export interface DocSession {
  readonly clientId: string;
  readonly sync: DocSync;
  edit(text: string): void;
  /** This viewer's selection (positions in the local text). */
  select(anchor: number, head: number): void;
  save(): Promise<ErrorPayload | undefined>;
  stop(): void;
}

export type OpenResult =
  | { ok: true; doc: string }
  | { ok: false; refused: "binary" | "too-large"; size: number }
  | { ok: false; error: ErrorPayload };

/** Asks the docs service to open `path`. */
export async function openDocument(conn: WorkspaceConnection, path: string): Promise<OpenResult> {
  const reply = (await sendCommand(
    conn,
    ServiceNames.docs,
    "OpenDocument",
    { path },
    { read: true },
  )) as { ok: true; result?: OpenDocumentResult } | { ok: false; error: ErrorPayload };
  if (!reply.ok) return { ok: false, error: reply.error };
  const r = reply.result;
  if (!r)
    return { ok: false, error: { code: "ERR_INTERNAL", message: "no document in the reply" } };
  if (r.refused) return { ok: false, refused: r.refused, size: r.size ?? 0 };
  return { ok: true, doc: r.doc };
}

function readRescue(key: string): Unstored | undefined {
  try {
    const raw = sessionStorage.getItem(key);
    if (!raw) return undefined;
    const u = JSON.parse(raw) as Unstored;
    return typeof u.sent === "string" && typeof u.local === "string" ? u : undefined;
  } catch {
    return undefined;
  }
}

export function attachDocument(
  conn: WorkspaceConnection,
  path: string,
  doc: string,
  hooks: DocSessionHooks,
): DocSession {
  const subjects = docSubjects(conn.wsid, doc);
  const clientId = `c${randomId().slice(0, 12)}`;
  const { name, color } = pagePerson(conn);
  const stopping = new AbortController();
  let client: DocClient | undefined;
  let sync!: DocSync;
  let current: Reader | undefined;
  let nc: NatsConnection | undefined;
  let presenceSub: Subscription | undefined;
  let presenceNc: NatsConnection | undefined;
  let selection = { anchor: 0, head: 0 };
  const others = new Map<string, DocPresence & { seen: number }>();
  let lastSynced = true;
  let resync = false;
  // Edits typed just before this tab reloaded that were not stored yet.
  const rescueKey = `cocalc-doc-unstored:${conn.wsid}:${doc}`;
  const rescued = readRescue(rescueKey);
  let rescuedInflightSeen = false;

  const reportSynced = () => {
    const now = sync?.synced ?? true;
    if (now !== lastSynced) {
      lastSynced = now;
      hooks.synced(now);
    }
  };

  const makeSync = (c: DocClient) =>
    new DocSync(
      c,
      path,
      async (p) => {
        const r = await sendCommand(conn, ServiceNames.docs, "PatchDocument", p);
        if (!r.ok && r.error.code === "ERR_DOC_BASE_UNKNOWN") {
          resync = true;
          current?.release();
        }
        return r.ok ? { ok: true } : { ok: false, code: r.error.code, message: r.error.message };
      },
      (text) => hooks.remote(text),
    );

  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void sync.flush().then(() => {
        reportSynced();
        if (!sync.synced && !sync.client.pending) schedule();
      });
    }, BATCH_MS);
  };
  // A patch that got no answer is sent again, the same one.
  const retry = setInterval(() => {
    if (sync && !sync.synced) void sync.flush().then(reportSynced);
  }, 1500);

  function publishPresence(gone = false) {
    if (!nc || !client) return;
    const p: DocPresence = {
      client: clientId,
      name,
      color,
      seq: client.seq,
      anchor: Math.min(selection.anchor, client.local.length),
      head: Math.min(selection.head, client.local.length),
      ...(gone && { gone: true }),
    };
    try {
      nc.publish(subjects.presence, JSON.stringify(p));
    } catch {
      // not connected: the next beat says it again
    }
  }

  function showOthers() {
    const now = Date.now();
    for (const [id, p] of others) if (now - p.seen > 3 * DOC_PRESENCE_MS) others.delete(id);
    hooks.presence([...others.values()]);
  }

  async function followOnce(): Promise<void> {
    nc = await conn.ready(stopping.signal);
    if (!nc || stopping.signal.aborted) return;
    if (presenceNc !== nc) {
      // A new client after the old one gave up: subscribe on it.
      presenceSub?.unsubscribe();
      presenceNc = nc;
      presenceSub = nc.subscribe(subjects.presence, {
        callback: (_err, m) => {
          try {
            const p = m.json<unknown>();
            if (!Value.Check(DocPresenceSchema, p) || p.client === clientId) return;
            if (p.gone) others.delete(p.client);
            else others.set(p.client, { ...p, seen: Date.now() });
            showOthers();
          } catch {
            // not presence: ignore
          }
        },
      });
    }
    let from: number;
    if (!client) {
      const kv = await openView(nc, Buckets.docSnapshots, conn.jsDomain);
      const e = await kv.get(Keys.docSnapshot(conn.wsid, doc, "head"));
      const snap = e?.operation === "PUT" && e.length > 0 ? e.json<DocSnapshot>() : undefined;
      client = new DocClient(clientId, snap?.text ?? "", snap?.seq ?? 0);
      sync = makeSync(client);
      from = snap ? snap.seq + 1 : 1;
      if (snap) hooks.status("ready");
    } else if (resync) {
      // Behind what the stream still has (compacted), or the service did not know our base:
      // start again from the newest snapshot, keeping what was typed.
      resync = false;
      const kv = await openView(nc, Buckets.docSnapshots, conn.jsDomain);
      const e = await kv.get(Keys.docSnapshot(conn.wsid, doc, "head"));
      const snap = e?.operation === "PUT" && e.length > 0 ? e.json<DocSnapshot>() : undefined;
      if (snap && snap.seq >= client.seq) {
        client.reset(snap.text, snap.seq);
        hooks.remote(client.local);
        from = snap.seq + 1;
      } else {
        from = client.seq + 1;
      }
    } else {
      from = client.seq + 1;
    }
    const reader = await openReader(nc, {
      ...(conn.jsDomain !== undefined && { domain: conn.jsDomain }),
      ...(conn.readers && { slots: conn.readers }),
      ...(conn.makeReader && { make: conn.makeReader }),
      stream: Streams.WS_DOCS,
      filter: subjects.patches,
      from: { seq: from },
      prefix: "doc",
    });
    current = reader;
    if (stopping.signal.aborted) reader.release();
    let ready = client.seq > 0;
    if (ready) hooks.status("ready");
    for await (const m of reader.messages) {
      // A patch lost on the way: read on from the last one applied.
      if (!reader.inOrder(m)) {
        reader.release();
        return;
      }
      const event = registry.parse(m.data);
      if (event.type === "DocumentOpened") {
        client.reset(event.data.text, m.seq);
        hooks.remote(client.local);
      } else {
        try {
          sync.receive({
            seq: m.seq,
            patch: event.data.patch,
            ...(event.data.client !== undefined && { client: event.data.client }),
            ...(event.data.pid !== undefined && { pid: event.data.pid }),
          });
        } catch (err) {
          if (!(err instanceof CocalcError && err.code === "ERR_DOC_PATCH_INVALID")) throw err;
          resync = true;
          reader.release();
          return;
        }
      }
      if (
        rescued?.inflight &&
        event.type === "DocumentPatched" &&
        event.data.pid === rescued.inflight.pid &&
        event.data.client === rescued.inflight.client
      ) {
        rescuedInflightSeen = true;
      }
      if (!ready && m.info.pending === 0) {
        ready = true;
        hooks.status("ready");
      }
      if (ready && rescued && !restoring) {
        restoring = true;
        void restore(rescued);
      }
      reportSynced();
    }
  }

  let restoring = false;
  /** Puts edits rescued from before a reload back: the patch in flight (once), then the rest. */
  async function restore(u: Unstored): Promise<void> {
    try {
      if (u.inflight && !rescuedInflightSeen) {
        // The same patch id: if it was stored after all, the service keeps it once.
        await sendCommand(conn, ServiceNames.docs, "PatchDocument", { path, ...u.inflight });
        for (let i = 0; i < 200 && !rescuedInflightSeen && !stopping.signal.aborted; i++) {
          await delay(25, stopping.signal);
        }
      }
      if (stopping.signal.aborted || !client) return;
      const text = restoreUnstored(u, client.local);
      if (text !== client.local) {
        sync.edit(text);
        hooks.remote(text);
        schedule();
      }
      sessionStorage.removeItem(rescueKey);
    } catch (err) {
      hooks.status("error", messageOf(err));
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        await followOnce();
        failures = 0;
      } catch (err) {
        if (stopping.signal.aborted) break;
        failures++;
        hooks.status("error", messageOf(err));
      } finally {
        current?.release();
        current = undefined;
      }
      await delay(Math.max(100, backoffMs(failures)), stopping.signal);
    }
  }

  const offReconnect = conn.onReconnect(() => current?.release());
  const stopView = watchKv(conn, Buckets.docs, Keys.doc(conn.wsid, doc), {
    reset: () => hooks.view(undefined),
    entry: (e) => hooks.view(e.operation === "PUT" ? e.json<DocView>() : undefined),
    problem: () => undefined,
  });
  const beat = setInterval(() => {
    publishPresence();
    showOthers();
  }, DOC_PRESENCE_MS);
  const onHide = () => {
    const u = client?.unstored();
    try {
      if (u) sessionStorage.setItem(rescueKey, JSON.stringify(u));
    } catch {
      // storage full or disabled: what is in flight may still arrive
    }
    publishPresence(true);
    if (sync && !sync.synced) void sync.flush();
  };
  addEventListener("pagehide", onHide);
  hooks.status("loading");
  void run();

  let presenceTimer: ReturnType<typeof setTimeout> | undefined;
  return {
    clientId,
    get sync() {
      return sync;
    },
    edit(text) {
      if (!sync) return;
      sync.edit(text);
      reportSynced();
      schedule();
    },
    select(anchor, head) {
      selection = { anchor, head };
      if (presenceTimer) return;
      presenceTimer = setTimeout(() => {
        presenceTimer = undefined;
        publishPresence();
      }, 50);
    },
    async save() {
      await sync?.flush();
      const r = await sendCommand(conn, ServiceNames.docs, "SaveDocument", { path });
      return r.ok ? undefined : r.error;
    },
    stop() {
      if (stopping.signal.aborted) return;
      publishPresence(true);
      stopping.abort();
      clearInterval(beat);
      clearInterval(retry);
      if (timer) clearTimeout(timer);
      if (presenceTimer) clearTimeout(presenceTimer);
      removeEventListener("pagehide", onHide);
      offReconnect();
      stopView();
      current?.release();
      presenceSub?.unsubscribe();
    },
  };
}
