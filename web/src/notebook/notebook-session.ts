/**
 * One open notebook in the page: the NATS side. OpenNotebook, then the notebook's stream
 * folded by NotebookSync (shared/notebook-sync.ts); each cell's local edits go out as
 * PatchCell (batched, one in flight per cell), structure changes as ChangeNotebook. Re-follows
 * the stream after reconnects from where it was.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { Value } from "@sinclair/typebox/value";
import { randomId } from "../../../shared/base64url.js";
import { DOC_PRESENCE_MS, type DocSnapshot, type DocView } from "../../../shared/docs.js";
import { EventRegistry } from "../../../shared/envelope.js";
import type { ErrorPayload } from "../../../shared/errors.js";
import type { Notebook } from "../../../shared/notebook.js";
import {
  type NotebookChange,
  type NotebookPresence,
  NotebookPresenceSchema,
  type NotebookStreamEvent,
  NotebookStreamEvents,
  type OpenNotebookResult,
} from "../../../shared/notebook-doc.js";
import { NotebookPartJoiner } from "../../../shared/notebook-parts.js";
import { NotebookSync } from "../../../shared/notebook-sync.js";
import { Buckets, docSubjects, Keys, ServiceNames, Streams } from "../../../shared/subjects.js";
import { sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { backoffMs, delay, messageOf } from "../lib/delay.js";
import { watchKv } from "../lib/kv-watch.js";
import { pagePerson } from "../lib/page-person.js";
import { openReader, type Reader } from "../lib/stream-reader.js";
import { openView } from "../lib/views.js";

const registry = new EventRegistry<NotebookStreamEvent>(NotebookStreamEvents);
/** Keystrokes within this long go out as one patch. */
const BATCH_MS = 4;

export type NotebookOpenResult =
  | { ok: true; doc: string }
  | { ok: false; refused: "binary" | "too-large"; size: number; limit?: number }
  | { ok: false; invalid: { message: string; text: string; length?: number } }
  | { ok: false; error: ErrorPayload };

/** Asks the docs service to open `path` as a notebook. */
export async function openNotebook(
  conn: WorkspaceConnection,
  path: string,
): Promise<NotebookOpenResult> {
  const reply = (await sendCommand(
    conn,
    ServiceNames.docs,
    "OpenNotebook",
    { path },
    { read: true },
  )) as { ok: true; result?: OpenNotebookResult } | { ok: false; error: ErrorPayload };
  if (!reply.ok) return { ok: false, error: reply.error };
  const r = reply.result;
  if (!r)
    return { ok: false, error: { code: "ERR_INTERNAL", message: "no notebook in the reply" } };
  if (r.invalid) return { ok: false, invalid: r.invalid };
  if (r.refused)
    return {
      ok: false,
      refused: r.refused,
      size: r.size ?? 0,
      ...(r.limit !== undefined && { limit: r.limit }),
    };
  return { ok: true, doc: r.doc };
}

export interface NotebookSessionHooks {
  structure(): void;
  text(id: string, text: string): void;
  status(status: "loading" | "ready" | "error", problem?: string): void;
  view(view: DocView | undefined): void;
  synced(synced: boolean): void;
  /** Others' cursors and selections, each in one cell. */
  presence(others: readonly NotebookPresence[]): void;
}

export interface NotebookSession {
  readonly sync: NotebookSync;
  edit(id: string, text: string): void;
  /** This viewer's selection in cell `id` (positions in its local text). */
  select(id: string, anchor: number, head: number): void;
  /** Sends a structure change; resolves to the refusal, if any. */
  change(change: NotebookChange): Promise<ErrorPayload | undefined>;
  /** Sends what is unsent of cell `id` and waits (a little) until it is stored. */
  settle(id: string): Promise<void>;
  save(): Promise<ErrorPayload | undefined>;
  stop(): void;
}

export function attachNotebook(
  conn: WorkspaceConnection,
  path: string,
  doc: string,
  hooks: NotebookSessionHooks,
): NotebookSession {
  const subjects = docSubjects(conn.wsid, doc);
  const { name, color } = pagePerson(conn);
  const stopping = new AbortController();
  let nc: NatsConnection | undefined;
  let presenceSub: Subscription | undefined;
  let presenceNc: NatsConnection | undefined;
  let selection: { cell: string; anchor: number; head: number } | undefined;
  const others = new Map<string, NotebookPresence & { seen: number }>();
  let current: Reader | undefined;
  let lastSynced = true;
  const sync = new NotebookSync(
    `n${randomId().slice(0, 12)}`,
    path,
    {
      patch: async (p) => {
        const r = await sendCommand(conn, ServiceNames.docs, "PatchCell", p);
        return r.ok ? { ok: true } : { ok: false, code: r.error.code, message: r.error.message };
      },
      change: async (c) => {
        const r = await sendCommand(conn, ServiceNames.docs, "ChangeNotebook", c);
        return r.ok
          ? { ok: true, seqs: r.seqs }
          : { ok: false, code: r.error.code, message: r.error.message };
      },
    },
    { structure: () => hooks.structure(), text: (id, text) => hooks.text(id, text) },
  );

  const reportSynced = () => {
    if (sync.synced !== lastSynced) {
      lastSynced = sync.synced;
      hooks.synced(lastSynced);
    }
  };
  const dirty = new Set<string>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      const ids = [...dirty];
      dirty.clear();
      void Promise.all(ids.map((id) => sync.flush(id))).then(reportSynced);
    }, BATCH_MS);
  };
  // A patch that got no answer is sent again, the same one.
  const retry = setInterval(() => {
    if (!sync.synced) void sync.flush().then(reportSynced);
  }, 1500);

  function publishPresence(gone = false) {
    if (!nc || !selection) return;
    const len = sync.text(selection.cell).length;
    const p: NotebookPresence = {
      client: sync.clientId,
      name,
      color,
      cell: selection.cell,
      seq: sync.confirmed(selection.cell)?.seq ?? sync.seq,
      anchor: Math.min(selection.anchor, len),
      head: Math.min(selection.head, len),
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
      presenceSub?.unsubscribe();
      presenceNc = nc;
      presenceSub = nc.subscribe(subjects.presence, {
        callback: (_err, m) => {
          try {
            const p = m.json<unknown>();
            if (!Value.Check(NotebookPresenceSchema, p) || p.client === sync.clientId) return;
            if (p.gone) others.delete(p.client);
            else others.set(p.client, { ...p, seen: Date.now() });
            showOthers();
          } catch {
            // not presence: ignore
          }
        },
      });
    }
    if (sync.seq === 0) {
      // Opening is the newest snapshot plus the events after it.
      const kv = await openView(nc, Buckets.docSnapshots, conn.jsDomain);
      const e = await kv.get(Keys.docSnapshot(conn.wsid, doc, "head"));
      const snap = e?.operation === "PUT" && e.length > 0 ? e.json<DocSnapshot>() : undefined;
      if (snap && !stopping.signal.aborted)
        sync.load({ path, nb: JSON.parse(snap.text) as Notebook }, snap.seq);
    }
    const reader = await openReader(nc, {
      ...(conn.jsDomain !== undefined && { domain: conn.jsDomain }),
      ...(conn.readers && { slots: conn.readers }),
      ...(conn.makeReader && { make: conn.makeReader }),
      stream: Streams.WS_DOCS,
      filter: subjects.patches,
      from: { seq: sync.seq + 1 },
      prefix: "nb",
    });
    current = reader;
    if (stopping.signal.aborted) reader.release();
    let ready = sync.seq > 0;
    if (ready) hooks.status("ready");
    // Read again from after the last whole event: parts of one are joined from their start.
    const joiner = new NotebookPartJoiner();
    for await (const m of reader.messages) {
      if (!reader.inOrder(m)) {
        reader.release();
        return;
      }
      const event = joiner.push(registry.parse(m.data));
      if (event) sync.receive(event, m.seq);
      if (!ready && m.info.pending === 0) {
        ready = true;
        hooks.status("ready");
      }
      reportSynced();
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
  let presenceTimer: ReturnType<typeof setTimeout> | undefined;
  const onHide = () => {
    publishPresence(true);
    if (!sync.synced) void sync.flush();
  };
  addEventListener("pagehide", onHide);
  hooks.status("loading");
  void run();

  return {
    sync,
    edit(id, text) {
      sync.edit(id, text);
      dirty.add(id);
      reportSynced();
      schedule();
    },
    select(id, anchor, head) {
      selection = { cell: id, anchor, head };
      if (presenceTimer) return;
      presenceTimer = setTimeout(() => {
        presenceTimer = undefined;
        publishPresence();
      }, 50);
    },
    async change(change) {
      const r = await sync.change(change);
      return r.ok ? undefined : ({ code: r.code, message: r.message } as ErrorPayload);
    },
    async settle(id) {
      for (let i = 0; i < 100 && !sync.cellSynced(id) && !stopping.signal.aborted; i++) {
        await sync.flush(id);
        if (!sync.cellSynced(id)) await delay(20, stopping.signal);
      }
    },
    async save() {
      await sync.flush();
      const r = await sendCommand(conn, ServiceNames.docs, "SaveNotebook", { path });
      return r.ok ? undefined : r.error;
    },
    stop() {
      if (stopping.signal.aborted) return;
      publishPresence(true);
      stopping.abort();
      clearInterval(retry);
      clearInterval(beat);
      if (presenceTimer) clearTimeout(presenceTimer);
      presenceSub?.unsubscribe();
      if (timer) clearTimeout(timer);
      removeEventListener("pagehide", onHide);
      offReconnect();
      stopView();
      current?.release();
    },
  };
}
