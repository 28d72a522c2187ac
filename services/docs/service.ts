/**
 * The docs service. Every change to a document goes through it: it validates a patch
 * (known base, well formed, path inside the sandbox), rebases it onto the head and publishes
 * the exact result with `expect.lastSubjectSequence`, so the stream's order is the one order
 * every client applies; opening a document is also answered on `ws.<wsid>.read.docs` (all that a
 * viewer may send). It writes documents to disk (debounced, atomically), turns outside
 * changes of the file into patches, and keeps snapshots (`doc-snapshots`: the newest text,
 * and the oldest text history keeps) so that opening a document is snapshot + tail; patches
 * older than the history window are compacted away. Its durable consumer projects the
 * patches into the `docs` view, where it writes what it sees of the file beside them. Every
 * file access goes through its DocFiles (files.ts): this machine's disk, or a container
 * workspace's fs service.
 */
import type { KV } from "@nats-io/kv";
import type { Msg, Subscription } from "@nats-io/nats-core";
import { bytesToBase64url } from "../../shared/base64url.js";
import { type CommandReply, parseCommand } from "../../shared/commands.js";
import {
  DOC_SNAPSHOT_EVERY,
  DocHead,
  type DocSnapshot,
  DocumentCommands,
  type DocumentEvent,
  DocumentEvents,
  DocumentOpened,
  DocumentPatched,
  type DocView,
  docIdForPath,
  lengthChange,
  OpenDocument,
  type OpenDocumentResult,
  parsePatch,
  VersionNamed,
  type VersionNameEvent,
  VersionNameEvents,
} from "../../shared/docs.js";
import { EventRegistry, envelope } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  NotebookCommands,
  type NotebookStreamEvent,
  NotebookStreamEvents,
  OpenNotebook,
  type OpenNotebookResult,
} from "../../shared/notebook-doc.js";
import { sha256 } from "../../shared/sha256.js";
import {
  Buckets,
  docSubjects,
  Keys,
  ServiceNames,
  Streams,
  workspaceDocSubjects,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { callerAccount } from "../runtime/caller.js";
import { consumeEvents } from "../runtime/consumer.js";
import { writeLive } from "../runtime/live.js";
import { projectionHandler } from "../runtime/projection.js";
import { isWrongLastSequence, publishEvent } from "../runtime/publish.js";
import { type RunningService, runningService, type ServiceContext } from "../runtime/service.js";
import { lastSubjectSeq, readSubject } from "../runtime/stream-read.js";
import {
  type DecidedPatch,
  decideOutsideChange,
  decidePatch,
  decideVersionName,
  evolveHead,
} from "./decider.js";
import type { DiskRead } from "./disk.js";
import type { DocFiles } from "./files.js";
import { followKernelOutputs, kernelOutputsDurable } from "./kernel-outputs.js";
import { type NotebookCommand, NotebookDocs } from "./notebooks.js";
import { docsProjection } from "./projections.js";

export const DOCS_SERVICE = ServiceNames.docs;
export const docsRegistry = new EventRegistry<DocumentEvent>(DocumentEvents);
const namesRegistry = new EventRegistry<VersionNameEvent>(VersionNameEvents);
/** Every event of the docs stream: text documents' and notebooks'. */
const streamRegistry = new EventRegistry<DocumentEvent | NotebookStreamEvent>([
  ...DocumentEvents,
  ...NotebookStreamEvents,
]);
const commandTypes = [...DocumentCommands, ...NotebookCommands];

export interface DocsServiceOptions {
  /** Writes to disk wait this long after the last change (default 250 ms). */
  saveDelayMs?: number;
  /** Patches younger than this are kept as history; older ones are compacted (default 30 days). */
  historyWindowMs?: number;
  /** A snapshot of the text after this many patches (default DOC_SNAPSHOT_EVERY). */
  snapshotEvery?: number;
  /** Who the events name as their actor for changes from disk. */
  actor?: string;
  /**
   * The durable consumer's name (default: the service's). Where one NATS serves many
   * workspaces (a launchpad host), each workspace's service needs its own.
   */
  durable?: string;
  /** Rewrites error answers' messages (a container workspace's: no host paths). */
  hidePaths?: (message: string) => string;
}

interface OpenDoc {
  path: string;
  doc: string;
  subject: string;
  head: DocHead;
  /** The text the file had when last read or written by us; undefined: the file is missing. */
  disk: string | undefined;
  saved: number;
  sinceSnapshot: number;
  /** The newest snapshot stored, to become the history base once it is old enough. */
  snapshot: DocSnapshot | undefined;
  floor: number;
  writeTimer: NodeJS.Timeout | undefined;
  unwatch: () => void;
  queue: Promise<unknown>;
}

/** The event id of a client's patch: the same for the same patch sent again. */
function patchEventId(client: string, pid: string): string {
  return bytesToBase64url(sha256(`${client}\n${pid}`).subarray(0, 18));
}

type Reply = CommandReply & { result?: OpenDocumentResult | OpenNotebookResult };

export class DocsService {
  private readonly docs = new Map<string, OpenDoc>();
  private readonly loading = new Map<string, Promise<OpenDoc>>();
  private view!: KV;
  private snapshots!: KV;
  private subs: Subscription[] = [];
  private stopping = false;
  private readonly saveDelayMs: number;
  private readonly windowMs: number;
  private readonly snapshotEvery: number;
  private readonly actor: string;
  private readonly inflight = new Set<Promise<void>>();
  private notebooks!: NotebookDocs;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly files: DocFiles,
    private readonly opts: DocsServiceOptions,
  ) {
    this.saveDelayMs = opts.saveDelayMs ?? 250;
    this.windowMs = opts.historyWindowMs ?? 30 * 24 * 3600 * 1000;
    this.snapshotEvery = opts.snapshotEvery ?? DOC_SNAPSHOT_EVERY;
    this.actor = opts.actor ?? "user";
  }

  private get log() {
    return this.ctx.log;
  }

  async start(): Promise<RunningService> {
    [this.view, this.snapshots] = await Promise.all([
      this.ctx.kvm.open(Buckets.docs),
      this.ctx.kvm.open(Buckets.docSnapshots),
    ]);
    this.notebooks = new NotebookDocs(this.ctx, this.files, this.view, this.snapshots, {
      saveDelayMs: this.saveDelayMs,
      actor: this.actor,
      snapshotEvery: this.snapshotEvery,
    });
    const consumer = await consumeEvents({
      nc: this.ctx.nc,
      js: this.ctx.js,
      jsm: this.ctx.jsm,
      stream: Streams.WS_DOCS,
      durable: this.opts.durable ?? DOCS_SERVICE,
      filterSubject: workspaceDocSubjects(this.ctx.wsid).patches,
      registry: streamRegistry,
      log: this.log,
      handle: await projectionHandler(this.ctx.kvm, [docsProjection]),
    });
    const subjects = workspaceSubjects(this.ctx.wsid);
    // Every command on cmd.docs; on read.docs only opening (what a viewer may ask).
    const serve = (subject: string, readOnly: boolean) =>
      this.ctx.nc.subscribe(subject, {
        queue: subject,
        callback: (err, m) => {
          if (err) return;
          const p = this.respond(m, readOnly).finally(() => this.inflight.delete(p));
          this.inflight.add(p);
        },
      });
    this.subs = [
      serve(subjects.command(DOCS_SERVICE), false),
      serve(subjects.read(DOCS_SERVICE), true),
    ];
    const commands = {
      done: Promise.race(this.subs.map((sub) => sub.closed)).then(() => undefined),
      stop: () => this.stop(),
    };
    // Kernels' outputs into their notebooks, with or without a page open.
    const outputs = await followKernelOutputs({
      ctx: this.ctx,
      notebooks: this.notebooks,
      durable: kernelOutputsDurable(this.opts.durable ?? DOCS_SERVICE),
    });
    this.log.info(this.files.where, "docs service ready");
    return runningService([commands, consumer, outputs], async () => undefined);
  }

  /** Stops taking commands; what is not on disk yet goes there (the stream has it either way). */
  private async stop(): Promise<void> {
    this.stopping = true;
    for (const sub of this.subs) if (!sub.isClosed()) await sub.drain();
    await Promise.allSettled([...this.inflight]);
    for (const d of this.docs.values()) {
      d.unwatch();
      await this.serial(d, () => this.flushDisk(d)).catch((err: unknown) =>
        this.log.warn({ path: d.path, err }, "final write failed"),
      );
    }
    this.docs.clear();
    await this.notebooks.stop();
    await this.files.close();
  }

  private async respond(m: Msg, readOnly: boolean): Promise<void> {
    let reply: Reply;
    const at = this.ctx.now().toISOString();
    try {
      const command = parseCommand<
        | { type: "OpenDocument"; data: { path: string }; actor: string; at: string }
        | {
            type: "PatchDocument";
            data: {
              path: string;
              base: number;
              patch: string;
              client: string;
              pid: string;
              source?: "revert";
            };
            actor: string;
            at: string;
          }
        | { type: "SaveDocument"; data: { path: string }; actor: string; at: string }
        | {
            type: "NameVersion";
            data: { path: string; seq: number; name: string };
            actor: string;
            at: string;
          }
        | (NotebookCommand & { at: string })
        // A hosted workspace's command names the account that sent it: history groups by it.
      >(commandTypes, m.data, { actor: callerAccount(m) ?? "user", at });
      if (readOnly && command.type !== OpenDocument.type && command.type !== OpenNotebook.type)
        throw new CocalcError(
          "ERR_COMMAND_REJECTED",
          `${command.type} changes the document: it is not answered on the read-only subject`,
        );
      switch (command.type) {
        case "OpenNotebook":
        case "PatchCell":
        case "ChangeNotebook":
        case "RestoreNotebook":
        case "SaveNotebook":
          reply = await this.notebooks.command(command);
          break;
        case "OpenDocument":
          reply = await this.open(command.data.path);
          break;
        case "PatchDocument": {
          const d = await this.load(command.data.path);
          const seq = await this.serial(d, () => this.patch(d, command.data, command.actor));
          reply = { ok: true, seqs: [seq] };
          break;
        }
        case "SaveDocument": {
          const d = await this.load(command.data.path);
          await this.serial(d, () => this.flushDisk(d, true));
          reply = { ok: true, seqs: [d.saved] };
          break;
        }
        case "NameVersion": {
          const d = await this.load(command.data.path);
          const seq = await this.serial(d, () => this.nameVersion(d, command.data, command.actor));
          reply = { ok: true, seqs: [seq] };
          break;
        }
        default: {
          const never: never = command;
          throw new Error(`unhandled command ${(never as { type: string }).type}`);
        }
      }
    } catch (err) {
      const error = toErrorPayload(err);
      if (error.code === "ERR_INTERNAL") this.log.error({ err }, "docs command failed");
      else this.log.info({ code: error.code, reason: error.message }, "docs command refused");
      if (this.opts.hidePaths) error.message = this.opts.hidePaths(error.message);
      reply = { ok: false, error };
    }
    if (m.reply) m.respond(JSON.stringify(reply));
  }

  /** Runs `fn` after everything queued on the document (one change at a time per document). */
  private serial<T>(d: OpenDoc, fn: () => Promise<T>): Promise<T> {
    const next = d.queue.then(fn);
    d.queue = next.catch(() => undefined);
    return next;
  }

  private async open(input: string): Promise<Reply> {
    const path = await this.files.real(input);
    const doc = docIdForPath(path);
    if (!this.docs.has(doc) && !this.loading.has(doc)) {
      // Refuse what is not text before a document exists for it.
      const events = await lastSubjectSeq(this.ctx.jsm, Streams.WS_DOCS, this.subjectOf(doc));
      if (events === 0) {
        const read = await this.files.read(path);
        if (read.status === "binary" || read.status === "too-large") {
          return { ok: true, seqs: [], result: { doc, refused: read.status, size: read.size } };
        }
        if (read.status === "missing") {
          throw new CocalcError("ERR_FS_NOT_FOUND", `${this.files.display(path)} does not exist`);
        }
      }
    }
    const d = await this.load(path);
    return { ok: true, seqs: [d.head.head], result: { doc } };
  }

  private subjectOf(doc: string): string {
    return docSubjects(this.ctx.wsid, doc).patches;
  }

  /** The open document of `input`, loaded (and created from disk) on first use. */
  private async load(input: string): Promise<OpenDoc> {
    const path = await this.files.real(input);
    const doc = docIdForPath(path);
    const known = this.docs.get(doc);
    if (known) return known;
    let pending = this.loading.get(doc);
    if (!pending) {
      pending = this.loadFresh(path, doc).finally(() => this.loading.delete(doc));
      this.loading.set(doc, pending);
    }
    return pending;
  }

  private async loadFresh(path: string, doc: string): Promise<OpenDoc> {
    const subject = this.subjectOf(doc);
    const last = await lastSubjectSeq(this.ctx.jsm, Streams.WS_DOCS, subject);
    const viewEntry = await this.view.get(Keys.doc(this.ctx.wsid, doc));
    const view =
      viewEntry?.operation === "PUT" && viewEntry.length > 0 ? viewEntry.json<DocView>() : null;
    const d: OpenDoc = {
      path,
      doc,
      subject,
      head: new DocHead("", 0),
      disk: undefined,
      saved: view?.saved ?? 0,
      sinceSnapshot: 0,
      snapshot: undefined,
      floor: view?.floor ?? 0,
      writeTimer: undefined,
      unwatch: () => undefined,
      queue: Promise.resolve(),
    };
    const read = await this.files.read(path);
    if (last === 0) {
      if (read.status !== "text") {
        throw new CocalcError(
          read.status === "missing" ? "ERR_FS_NOT_FOUND" : "ERR_DOC_NOT_TEXT",
          read.status === "missing"
            ? `${this.files.display(path)} does not exist`
            : `${this.files.display(path)} is ${read.status === "binary" ? "not text" : "too large to edit"}`,
        );
      }
      const ev = envelope(
        DocumentOpened,
        { path, text: read.text },
        {
          actor: this.actor,
          at: this.ctx.now(),
        },
      );
      docsRegistry.check(ev);
      const ack = await publishEvent(this.ctx.js, subject, ev, { expectLastSubjectSeq: 0 });
      d.head = new DocHead(read.text, ack.seq);
      d.disk = read.text;
      d.saved = ack.seq;
      d.floor = ack.seq;
      this.log.info({ path, doc, seq: ack.seq }, "document created");
    } else {
      const savedText = await this.replay(d, last);
      this.reconcile(d, read, savedText);
    }
    d.unwatch = await this.files.watch(path, () => {
      if (!this.stopping) void this.serial(d, () => this.outsideChange(d)).catch(this.warn(d));
    });
    this.docs.set(doc, d);
    await this.serial(d, async () => {
      if (d.disk !== d.head.text && d.disk !== undefined) await this.flushDisk(d);
      await this.writeFileFacts(d);
    });
    return d;
  }

  /**
   * Names a version of the document: `seq` must be one of its versions that history keeps
   * (its opening, a patch, or history's base). The name goes to the names subject.
   */
  private async nameVersion(
    d: OpenDoc,
    r: { seq: number; name: string },
    actor: string,
  ): Promise<number> {
    // History's base was compacted out of the stream; every other version is a message there.
    const inStream = r.seq > d.floor && r.seq <= d.head.head;
    const stored = inStream
      ? await this.ctx.jsm.streams.getMessage(Streams.WS_DOCS, { seq: r.seq }).catch(() => null)
      : null;
    const data = decideVersionName(
      { head: d.head.head, floor: d.floor, subject: d.subject, shown: this.files.display(d.path) },
      r,
      stored?.subject,
    );
    const ev = envelope(VersionNamed, data, { actor, at: this.ctx.now() });
    namesRegistry.check(ev);
    const ack = await publishEvent(this.ctx.js, docSubjects(this.ctx.wsid, d.doc).names, ev);
    this.log.info(
      { path: d.path, seq: data.seq },
      data.name ? "version named" : "version name removed",
    );
    return ack.seq;
  }

  private warn(d: OpenDoc) {
    return (err: unknown) => this.log.warn({ path: d.path, err }, "document change failed");
  }

  /**
   * Builds the head from the newest snapshot (or history's base, when the last write to
   * disk is older than the newest snapshot) and the patches after it. Returns the text at
   * the last saved sequence when it passed it.
   */
  private async replay(d: OpenDoc, last: number): Promise<string | undefined> {
    const snap = async (which: "head" | "base") => {
      const e = await this.snapshots.get(Keys.docSnapshot(this.ctx.wsid, d.doc, which));
      return e?.operation === "PUT" && e.length > 0 ? e.json<DocSnapshot>() : undefined;
    };
    const [head, base] = await Promise.all([snap("head"), snap("base")]);
    d.snapshot = head;
    let start: DocSnapshot | undefined;
    if (head && head.seq <= last && head.seq <= d.saved) start = head;
    else if (base && base.seq <= last && base.seq <= d.saved) start = base;
    else if (head && head.seq <= last) start = head;
    const text = start?.text ?? "";
    let seq = start?.seq ?? 0;
    let savedText = seq === d.saved ? text : undefined;
    const events = await readSubject(
      this.ctx.js,
      docsRegistry,
      Streams.WS_DOCS,
      d.subject,
      seq,
      last,
    );
    d.head = new DocHead(text, seq);
    for (const { event, seq: s } of events) {
      d.head = evolveHead(d.head, event, s);
      seq = s;
      if (seq === d.saved) savedText = d.head.text;
    }
    d.sinceSnapshot = events.length;
    return savedText;
  }

  /** After a (re)start: the file may be behind the stream, or changed while we were away. */
  private reconcile(d: OpenDoc, read: DiskRead, savedText: string | undefined): void {
    if (read.status === "missing") {
      d.disk = undefined;
      return;
    }
    if (read.status !== "text") {
      // Something else replaced the file with one we cannot edit: leave it alone.
      d.disk = d.head.text;
      this.log.warn({ path: d.path, status: read.status }, "file is no longer text");
      return;
    }
    if (read.text === d.head.text || read.text === savedText) {
      // Up to date, or simply behind the stream (the next write brings it up to date).
      d.disk = read.text;
      return;
    }
    // Changed outside while the service was away: merged like a live outside change.
    d.disk = savedText ?? d.head.text;
    this.pendingOutside.set(d.doc, read.text);
  }

  private readonly pendingOutside = new Map<string, string>();

  /** A client's patch: rebased onto the head, stored, then written to disk in a moment. */
  private async patch(
    d: OpenDoc,
    p: { base: number; patch: string; client: string; pid: string; source?: "revert" },
    actor: string,
  ): Promise<number> {
    await this.applyPendingOutside(d);
    if (p.base < d.head.oldestBase) await this.reachBack(d, p.base);
    return this.store(d, decidePatch(d.head, p), actor);
  }

  /**
   * A base older than the patches in memory (e.g. after a restart from a snapshot): the
   * patches from it on are read back from the stream, as far as history keeps them.
   */
  private async reachBack(d: OpenDoc, base: number): Promise<void> {
    if (base < d.floor || base < 1) return;
    const start = d.head.oldestBase;
    const events = await readSubject(
      this.ctx.js,
      docsRegistry,
      Streams.WS_DOCS,
      d.subject,
      base - 1,
      start,
    );
    if (events[0]?.seq !== base || events[events.length - 1]?.seq !== start) return;
    for (let i = events.length - 1; i >= 1; i--) {
      const { event, seq } = events[i]!;
      if (event.type !== "DocumentPatched") return;
      const edits = parsePatch(event.data.patch);
      d.head.prepend(seq, edits, d.head.oldestLength - lengthChange(edits), events[i - 1]!.seq);
    }
  }

  private async store(d: OpenDoc, decided: DecidedPatch, actor: string): Promise<number> {
    const { edits, data } = decided;
    const { client, pid } = data;
    const ev = envelope(
      DocumentPatched,
      data,
      // A patch sent again after a lost reply has the same id: the stream keeps it once.
      {
        actor,
        at: this.ctx.now(),
        ...(client !== undefined && pid !== undefined && { id: patchEventId(client, pid) }),
      },
    );
    docsRegistry.check(ev);
    let seq: number;
    try {
      const ack = await publishEvent(this.ctx.js, d.subject, ev, {
        expectLastSubjectSeq: d.head.head,
      });
      if (ack.duplicate) {
        // Stored before; its effect is already in the head if we read it from the stream.
        if (ack.seq > d.head.head) {
          d.unwatch();
          this.docs.delete(d.doc);
        }
        return ack.seq;
      }
      seq = ack.seq;
    } catch (err) {
      if (isWrongLastSequence(err)) {
        // Someone else wrote the document: forget it, the next command loads it afresh.
        d.unwatch();
        this.docs.delete(d.doc);
        throw new CocalcError(
          "ERR_COMMAND_CONFLICT",
          "the document changed under the docs service; send the patch again",
        );
      }
      throw err;
    }
    d.head.apply(seq, edits);
    d.sinceSnapshot++;
    this.scheduleDisk(d);
    if (d.sinceSnapshot >= this.snapshotEvery) await this.snapshot(d);
    return seq;
  }

  private async applyPendingOutside(d: OpenDoc): Promise<void> {
    const text = this.pendingOutside.get(d.doc);
    if (text === undefined) return;
    this.pendingOutside.delete(d.doc);
    await this.merge(d, text);
  }

  /** The file changed on disk: its change (since we last saw it) is merged into the head. */
  private async outsideChange(d: OpenDoc): Promise<void> {
    if (!this.docs.has(d.doc)) return;
    await this.applyPendingOutside(d);
    const read = await this.files.read(d.path);
    if (read.status === "missing") {
      if (d.disk !== undefined) {
        d.disk = undefined;
        if (d.writeTimer) clearTimeout(d.writeTimer);
        d.writeTimer = undefined;
        this.log.info({ path: d.path }, "file deleted; the document keeps its text");
        await this.writeFileFacts(d);
      }
      return;
    }
    if (read.status !== "text") {
      this.log.warn({ path: d.path, status: read.status }, "outside change ignored: not text");
      return;
    }
    if (read.text === d.disk) return; // our own write, or no change
    await this.merge(d, read.text);
  }

  private async merge(d: OpenDoc, text: string): Promise<void> {
    const was = d.disk;
    d.disk = text;
    const decided = text === d.head.text ? undefined : decideOutsideChange(d.head, was, text);
    if (decided) {
      const seq = await this.store(d, decided, this.actor);
      this.log.info({ path: d.path, seq }, "outside change merged");
      if (d.head.text === text) {
        d.saved = seq;
        if (d.writeTimer) clearTimeout(d.writeTimer);
        d.writeTimer = undefined;
      }
    }
    // The file is there (again), and may hold the head.
    await this.writeFileFacts(d);
  }

  private scheduleDisk(d: OpenDoc): void {
    if (d.disk === undefined) return; // a deleted file is written again only by SaveDocument
    if (d.writeTimer) clearTimeout(d.writeTimer);
    d.writeTimer = setTimeout(() => {
      d.writeTimer = undefined;
      void this.serial(d, () => this.flushDisk(d)).catch(this.warn(d));
    }, this.saveDelayMs);
  }

  /** Writes the head to disk if it differs; `force` writes a deleted file again. */
  private async flushDisk(d: OpenDoc, force = false): Promise<void> {
    if (d.writeTimer) clearTimeout(d.writeTimer);
    d.writeTimer = undefined;
    if (d.disk === undefined && !force) return;
    await this.applyPendingOutside(d);
    const text = d.head.text;
    if (text !== d.disk || force) {
      await this.files.write(d.path, text);
      d.disk = text;
    }
    d.saved = d.head.head;
    await this.writeFileFacts(d);
  }

  /** What the service sees of the file, beside the view the patches project. */
  private async writeFileFacts(d: OpenDoc): Promise<void> {
    await writeLive<DocView>(this.view, Keys.doc(this.ctx.wsid, d.doc), (v) => ({
      ...v,
      saved: d.saved,
      disk: d.disk === undefined ? "deleted" : "present",
      floor: d.floor,
    }));
  }

  /**
   * Stores the head's text as the newest snapshot. The previous snapshot, once older than
   * the history window, becomes history's base, and the patches before it are purged.
   */
  private async snapshot(d: OpenDoc): Promise<void> {
    const now = this.ctx.now();
    const next: DocSnapshot = { seq: d.head.head, text: d.head.text, at: now.toISOString() };
    const prev = d.snapshot;
    await this.snapshots.put(Keys.docSnapshot(this.ctx.wsid, d.doc, "head"), JSON.stringify(next));
    d.snapshot = next;
    d.sinceSnapshot = 0;
    if (prev && Date.parse(prev.at) <= now.getTime() - this.windowMs && prev.seq > d.floor) {
      await this.snapshots.put(
        Keys.docSnapshot(this.ctx.wsid, d.doc, "base"),
        JSON.stringify(prev),
      );
      await this.ctx.jsm.streams.purge(Streams.WS_DOCS, { filter: d.subject, seq: prev.seq + 1 });
      d.floor = prev.seq;
      this.log.info({ path: d.path, floor: d.floor }, "document history compacted");
      await this.writeFileFacts(d);
    }
  }
}

export async function startDocs(
  ctx: ServiceContext,
  files: DocFiles,
  opts: DocsServiceOptions,
): Promise<RunningService> {
  return new DocsService(ctx, files, opts).start();
}
