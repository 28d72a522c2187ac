/**
 * The notebooks of the docs service: a `.ipynb` file as a notebook document (see
 * shared/notebook-doc.ts). Commands come through the docs service's command path; every
 * change is decided against the notebook's head and published with
 * `expect.lastSubjectSequence`, so the stream's order is the one order every page folds. The
 * notebook is written to disk as nbformat 4 (debounced, atomically, only when its text
 * differs), and an outside change of the file is merged cell by cell. A file that is not a
 * valid notebook is never made a document: the page is told why and shown its text.
 */
import type { KV } from "@nats-io/kv";
import { bytesToBase64url } from "../../shared/base64url.js";
import type { CommandReply } from "../../shared/commands.js";
import type { DocSnapshot, DocView } from "../../shared/docs.js";
import { EventRegistry, envelope } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import {
  emptyNotebook,
  NOTEBOOK_MAX_BYTES,
  type Notebook,
  type NotebookCell,
  parseNotebook,
  serializeNotebook,
} from "../../shared/notebook.js";
import {
  type NotebookChange,
  type NotebookEvent,
  NotebookEvents,
  NotebookOpened,
  type NotebookStreamEvent,
  NotebookStreamEvents,
  notebookIdForPath,
  type OpenNotebookResult,
} from "../../shared/notebook-doc.js";
import { evolveNotebook, NotebookHead, type NotebookState } from "../../shared/notebook-fold.js";
import { NotebookPartJoiner, splitNotebookEvent } from "../../shared/notebook-parts.js";
import { sha256 } from "../../shared/sha256.js";
import { docSubjects, Keys, Streams } from "../../shared/subjects.js";
import { writeLive } from "../runtime/live.js";
import { isWrongLastSequence, publishEvent } from "../runtime/publish.js";
import type { ServiceContext } from "../runtime/service.js";
import { lastSubjectSeq, readSubject } from "../runtime/stream-read.js";
import type { DiskRead } from "./disk.js";
import type { DocFiles } from "./files.js";
import {
  decideCellPatch,
  decideChange,
  decideOutsideChange,
  decideRestore,
  type NotebookDecision,
} from "./notebook-decider.js";

/** The actor of the outputs a kernel made (the kernels service ran them). */
const KERNEL_ACTOR = "kernels";

/** Largest snapshot stored (the `doc-snapshots` bucket takes values up to 1 MiB). */
const NOTEBOOK_SNAPSHOT_MAX = 960 * 1024;

/** The events of a notebook's stream, parts included (join them: NotebookPartJoiner). */
export const notebookRegistry = new EventRegistry<NotebookStreamEvent>(NotebookStreamEvents);
const wholeRegistry = new EventRegistry<NotebookEvent>(NotebookEvents);

/** Most characters of an invalid file's text the answer to OpenNotebook shows. */
const INVALID_TEXT_SHOWN = 96 * 1024;

export type NotebookCommand =
  | { type: "OpenNotebook"; data: { path: string }; actor: string }
  | {
      type: "PatchCell";
      data: { path: string; id: string; base: number; patch: string; client: string; pid: string };
      actor: string;
    }
  | {
      type: "ChangeNotebook";
      data: { path: string; change: NotebookChange; client: string; pid: string };
      actor: string;
    }
  | {
      type: "RestoreNotebook";
      data: { path: string; seq: number; client: string; pid: string };
      actor: string;
    }
  | { type: "SaveNotebook"; data: { path: string }; actor: string };

interface OpenNb {
  path: string;
  doc: string;
  subject: string;
  head: NotebookHead;
  /**
   * The subject's last sequence: the head's, or after it a run of parts left unfinished
   * when the service stopped (never an event, but the next publish expects it).
   */
  last: number;
  /** Events stored in parts, by envelope id → the sequence of their last part: sent again, they are stored once. */
  joined: Map<string, number>;
  /** What the file held when last read or written by us (undefined: missing). */
  disk: { nb: Notebook; text: string } | undefined;
  /** The file is there but not a valid notebook: not written over until it is again. */
  invalid: boolean;
  saved: number;
  /** Events stored since the last snapshot. */
  sinceSnapshot: number;
  writeTimer: ReturnType<typeof setTimeout> | undefined;
  unwatch: () => void;
  queue: Promise<unknown>;
}

function eventId(...parts: string[]): string {
  return bytesToBase64url(sha256(parts.join("\n")).subarray(0, 18));
}

export class NotebookDocs {
  private readonly docs = new Map<string, OpenNb>();
  private readonly loading = new Map<string, Promise<OpenNb>>();
  private stopping = false;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly files: DocFiles,
    private readonly view: KV,
    private readonly snapshots: KV,
    private readonly opts: { saveDelayMs: number; actor: string; snapshotEvery: number },
  ) {}

  private get log() {
    return this.ctx.log;
  }

  async command(c: NotebookCommand): Promise<CommandReply & { result?: OpenNotebookResult }> {
    switch (c.type) {
      case "OpenNotebook":
        return this.open(c.data.path);
      case "PatchCell": {
        const d = await this.load(c.data.path);
        const seq = await this.serial(d, () =>
          this.store(d, [decideCellPatch(d.head, c.data)], c.actor, [c.data.client, c.data.pid]),
        );
        return { ok: true, seqs: seq };
      }
      case "ChangeNotebook": {
        const d = await this.load(c.data.path);
        const seqs = await this.serial(d, () =>
          this.store(d, decideChange(d.head, c.data.change), c.actor, [c.data.client, c.data.pid]),
        );
        return { ok: true, seqs };
      }
      case "RestoreNotebook": {
        const d = await this.load(c.data.path);
        const seqs = await this.serial(d, async () => {
          const past = await this.versionAt(d, c.data.seq);
          return this.store(d, decideRestore(d.head, past), c.actor, [c.data.client, c.data.pid]);
        });
        return { ok: true, seqs };
      }
      case "SaveNotebook": {
        const d = await this.load(c.data.path);
        await this.serial(d, () => this.flushDisk(d, true));
        return { ok: true, seqs: [d.saved] };
      }
      default: {
        const never: never = c;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  }

  /**
   * Kernel outputs for cell `id` of the notebook at `path`: `decide` gets the cell's outputs
   * now (nbformat JSON text), count and displays, and returns what to store (or nothing).
   * False when the cell is gone or is not a code cell. `idParts` name the stored event, so a
   * kernel event handled again (redelivered after a crash) is stored once.
   */
  async kernelOutputs(
    path: string,
    id: string,
    decide: (cell: KernelCell) => NotebookDecision | undefined,
    idParts: [string, string],
  ): Promise<boolean> {
    const d = await this.load(path);
    return this.serial(d, async () => {
      const c = d.head.state.nb.cells.find((x) => x.id === id);
      if (c?.cell_type !== "code") return false;
      const decision = decide(kernelCell(c));
      if (decision) await this.store(d, [decision], KERNEL_ACTOR, idParts);
      return true;
    });
  }

  /**
   * A kernel's change of outputs anywhere in the notebook at `path` (a display updated in
   * every cell that shows it): `decide` gets its code cells and returns what to store, as one
   * change named by `idParts`.
   */
  async kernelCells(
    path: string,
    decide: (cells: (KernelCell & { id: string })[]) => NotebookDecision[],
    idParts: [string, string],
  ): Promise<number> {
    const d = await this.load(path);
    return this.serial(d, async () => {
      const cells = d.head.state.nb.cells
        .filter((c) => c.cell_type === "code")
        .map((c) => ({ id: c.id, ...kernelCell(c) }));
      const decisions = decide(cells);
      if (decisions.length > 0) await this.store(d, decisions, KERNEL_ACTOR, idParts);
      return decisions.length;
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const d of this.docs.values()) {
      d.unwatch();
      await this.serial(d, () => this.flushDisk(d)).catch((err: unknown) =>
        this.log.warn({ path: d.path, err }, "final notebook write failed"),
      );
    }
    this.docs.clear();
  }

  private serial<T>(d: OpenNb, fn: () => Promise<T>): Promise<T> {
    const next = d.queue.then(fn);
    d.queue = next.catch(() => undefined);
    return next;
  }

  private async open(input: string): Promise<CommandReply & { result: OpenNotebookResult }> {
    const path = await this.files.real(input);
    const doc = notebookIdForPath(path);
    if (!this.docs.has(doc) && !this.loading.has(doc)) {
      const subject = docSubjects(this.ctx.wsid, doc).patches;
      if ((await lastSubjectSeq(this.ctx.jsm, Streams.WS_DOCS, subject)) === 0) {
        // Refused before a document exists for it: nothing is stored for a bad file.
        const read = await this.files.read(path, NOTEBOOK_MAX_BYTES);
        if (read.status === "binary")
          return { ok: true, seqs: [], result: { doc, refused: read.status, size: read.size } };
        if (read.status === "too-large")
          return {
            ok: true,
            seqs: [],
            result: { doc, refused: read.status, size: read.size, limit: read.limit },
          };
        if (read.status !== "text")
          throw new CocalcError("ERR_FS_NOT_FOUND", `${this.files.display(path)} does not exist`);
        try {
          parseNotebook(read.text);
        } catch (err) {
          if (!(err instanceof CocalcError)) throw err;
          // The answer is one message: a long file's start is shown, and said to be one.
          const cut = read.text.length > INVALID_TEXT_SHOWN;
          const text = cut ? read.text.slice(0, INVALID_TEXT_SHOWN) : read.text;
          return {
            ok: true,
            seqs: [],
            result: {
              doc,
              invalid: { message: err.message, text, ...(cut && { length: read.text.length }) },
            },
          };
        }
      }
    }
    const d = await this.load(path);
    return { ok: true, seqs: [d.head.head], result: { doc } };
  }

  private async load(input: string): Promise<OpenNb> {
    const path = await this.files.real(input);
    const doc = notebookIdForPath(path);
    const known = this.docs.get(doc);
    if (known) return known;
    let pending = this.loading.get(doc);
    if (!pending) {
      pending = this.loadFresh(path, doc).finally(() => this.loading.delete(doc));
      this.loading.set(doc, pending);
    }
    return pending;
  }

  private async loadFresh(path: string, doc: string): Promise<OpenNb> {
    const subject = docSubjects(this.ctx.wsid, doc).patches;
    const last = await lastSubjectSeq(this.ctx.jsm, Streams.WS_DOCS, subject);
    const entry = await this.view.get(Keys.doc(this.ctx.wsid, doc));
    const view = entry?.operation === "PUT" && entry.length > 0 ? entry.json<DocView>() : null;
    const read = await this.files.read(path, NOTEBOOK_MAX_BYTES);
    const d: OpenNb = {
      path,
      doc,
      subject,
      head: new NotebookHead({ path, nb: emptyNotebook() }, 0),
      last,
      joined: new Map(),
      disk: undefined,
      invalid: false,
      saved: view?.saved ?? 0,
      sinceSnapshot: 0,
      writeTimer: undefined,
      unwatch: () => undefined,
      queue: Promise.resolve(),
    };
    let pendingOutside: { nb: Notebook; text: string } | undefined;
    if (last === 0) {
      if (read.status !== "text")
        throw new CocalcError(
          read.status === "missing" ? "ERR_FS_NOT_FOUND" : "ERR_DOC_NOT_TEXT",
          `${this.files.display(path)} ${read.status === "missing" ? "does not exist" : "is not a notebook that can be opened"}`,
        );
      const nb = parseNotebook(read.text);
      const ev = envelope(NotebookOpened, { path, notebook: nb }, this.meta(this.opts.actor));
      wholeRegistry.check(ev);
      const ack = await this.publish(d, ev);
      d.head = new NotebookHead({ path, nb }, ack.seq);
      d.disk = { nb, text: read.text };
      d.saved = ack.seq;
      this.log.info(
        { path, doc, seq: ack.seq, cells: nb.cells.length, bytes: read.text.length },
        "notebook created",
      );
    } else {
      const savedText = await this.replay(d, last);
      pendingOutside = this.reconcile(d, read, savedText);
    }
    d.unwatch = await this.files.watch(path, () => {
      if (!this.stopping) void this.serial(d, () => this.outsideChange(d)).catch(this.warn(d));
    });
    this.docs.set(doc, d);
    await this.serial(d, async () => {
      if (pendingOutside) await this.merge(d, pendingOutside);
      else if (d.disk && d.disk.text !== serializeNotebook(d.head.state.nb))
        await this.flushDisk(d);
      await this.writeFileFacts(d);
    });
    return d;
  }

  private meta(actor: string, id?: string) {
    return { actor, at: this.ctx.now(), ...(id !== undefined && { id }) };
  }

  private warn(d: OpenNb) {
    return (err: unknown) => this.log.warn({ path: d.path, err }, "notebook change failed");
  }

  /** The notebook as it was at stream sequence `seq` (of this notebook's events). */
  private async versionAt(d: OpenNb, seq: number): Promise<Notebook> {
    if (seq > d.head.head)
      throw new CocalcError(
        "ERR_DOC_BASE_UNKNOWN",
        `sequence ${seq} is after the notebook's newest version ${d.head.head}`,
      );
    const events = await readSubject(
      this.ctx.js,
      notebookRegistry,
      Streams.WS_DOCS,
      d.subject,
      0,
      seq,
    );
    let state: NotebookState | undefined;
    const joiner = new NotebookPartJoiner();
    for (const { event: e, seq: s } of events) {
      const event = joiner.push(e);
      if (event && s <= seq) state = evolveNotebook(state, event);
    }
    if (!state)
      throw new CocalcError("ERR_DOC_BASE_UNKNOWN", `the notebook has no version at ${seq}`);
    return state.nb;
  }

  /** Folds the whole stream; returns the file's text as of the last saved sequence. */
  private async replay(d: OpenNb, last: number): Promise<string | undefined> {
    const events = await readSubject(
      this.ctx.js,
      notebookRegistry,
      Streams.WS_DOCS,
      d.subject,
      0,
      last,
    );
    let savedText: string | undefined;
    const joiner = new NotebookPartJoiner();
    for (const { event: stored, seq } of events) {
      const event = joiner.push(stored);
      if (!event) continue;
      if (stored !== event) d.joined.set(event.id, seq);
      if (event.type === "NotebookOpened") d.head = new NotebookHead(evolveOpened(event), seq);
      else d.head.apply(event, seq);
      if (seq === d.saved) savedText = serializeNotebook(d.head.state.nb);
    }
    if (joiner.waiting || d.head.head < last)
      this.log.warn(
        { path: d.path, head: d.head.head, last },
        "the notebook's stream ends in parts of an event never finished: they are ignored",
      );
    return savedText;
  }

  /** After a (re)start: the file may be behind the stream, or changed while we were away. */
  private reconcile(
    d: OpenNb,
    read: DiskRead,
    savedText: string | undefined,
  ): { nb: Notebook; text: string } | undefined {
    const headText = serializeNotebook(d.head.state.nb);
    const savedNb = savedText === undefined ? d.head.state.nb : parseNotebook(savedText);
    if (read.status === "missing") return undefined;
    if (read.status !== "text") {
      d.invalid = true;
      this.log.warn({ path: d.path, status: read.status }, "notebook file is no longer text");
      return undefined;
    }
    if (read.text === headText || read.text === savedText) {
      d.disk = { nb: read.text === headText ? d.head.state.nb : savedNb, text: read.text };
      return undefined;
    }
    d.disk = { nb: savedNb, text: savedText ?? headText };
    try {
      return { nb: parseNotebook(read.text), text: read.text };
    } catch (err) {
      d.invalid = true;
      this.log.warn({ path: d.path, err }, "notebook file is not a valid notebook");
      return undefined;
    }
  }

  /** Publishes decided events in order, each against the head before it. */
  private async store(
    d: OpenNb,
    decisions: NotebookDecision[],
    actor: string,
    idParts?: [string, string],
  ): Promise<number[]> {
    const seqs: number[] = [];
    for (const [i, decision] of decisions.entries()) {
      const id = idParts ? eventId(...idParts, String(i)) : undefined;
      const def = NotebookEvents.find((e) => e.type === decision.type)!;
      const ev = envelope(def, decision.data, this.meta(actor, id)) as NotebookEvent;
      wholeRegistry.check(ev);
      const ack = await this.publish(d, ev);
      if (ack.duplicate) {
        // Stored before (a change sent again): the head reads it back on the next command.
        seqs.push(ack.seq);
        if (ack.seq > d.head.head) {
          this.forget(d);
          break;
        }
        continue;
      }
      d.head.apply(ev, ack.seq);
      d.sinceSnapshot++;
      seqs.push(ack.seq);
    }
    if (decisions.length > 0) this.scheduleDisk(d);
    if (d.sinceSnapshot >= this.opts.snapshotEvery) await this.snapshot(d);
    return seqs;
  }

  /**
   * Stores one event after the subject's last message: as one message, or in parts when it
   * is larger than a message may be. An event sent again (same id) is stored once: JetStream
   * finds a message's duplicate, the parts' are found in `joined` (each attempt's parts have
   * ids of their own, so the rest of a run left unfinished is never taken for them).
   */
  private async publish(
    d: OpenNb,
    ev: NotebookEvent,
  ): Promise<{ seq: number; duplicate: boolean }> {
    const messages = splitNotebookEvent(ev, d.last);
    if (messages.length > 1) {
      const before = d.joined.get(ev.id);
      if (before !== undefined) return { seq: before, duplicate: true };
    }
    let seq = d.last;
    for (const m of messages) {
      if (m !== ev) notebookRegistry.check(m);
      let ack: Awaited<ReturnType<typeof publishEvent>>;
      try {
        ack = await publishEvent(this.ctx.js, d.subject, m, { expectLastSubjectSeq: d.last });
      } catch (err) {
        if (isWrongLastSequence(err)) {
          this.forget(d);
          throw new CocalcError(
            "ERR_COMMAND_CONFLICT",
            "the notebook changed under the docs service; send the change again",
          );
        }
        throw err;
      }
      if (ack.duplicate) {
        if (messages.length > 1) throw new Error(`notebook ${d.path}: a part was stored twice`);
        return { seq: ack.seq, duplicate: true };
      }
      seq = d.last = ack.seq;
    }
    if (messages.length > 1) {
      d.joined.set(ev.id, seq);
      this.log.debug({ path: d.path, type: ev.type, parts: messages.length }, "stored in parts");
    }
    return { seq, duplicate: false };
  }

  /**
   * Stores the notebook as of the head (`doc-snapshots`, the document's `head` key), so that
   * a page opens it as that snapshot plus the events after it. A notebook too large for one
   * value has none: pages read its whole stream.
   */
  private async snapshot(d: OpenNb): Promise<void> {
    d.sinceSnapshot = 0;
    const snap: DocSnapshot = {
      seq: d.head.head,
      text: JSON.stringify(d.head.state.nb),
      at: this.ctx.now().toISOString(),
    };
    const value = JSON.stringify(snap);
    if (value.length > NOTEBOOK_SNAPSHOT_MAX) {
      this.log.info({ path: d.path, bytes: value.length }, "notebook too large for a snapshot");
      return;
    }
    await this.snapshots.put(Keys.docSnapshot(this.ctx.wsid, d.doc, "head"), value);
  }

  private forget(d: OpenNb): void {
    d.unwatch();
    if (d.writeTimer) clearTimeout(d.writeTimer);
    this.docs.delete(d.doc);
  }

  private async outsideChange(d: OpenNb): Promise<void> {
    if (this.docs.get(d.doc) !== d) return;
    const read = await this.files.read(d.path, NOTEBOOK_MAX_BYTES);
    if (read.status === "missing") {
      if (d.disk !== undefined) {
        d.disk = undefined;
        if (d.writeTimer) clearTimeout(d.writeTimer);
        d.writeTimer = undefined;
        this.log.info({ path: d.path }, "notebook file deleted; the document keeps its cells");
        await this.writeFileFacts(d);
      }
      return;
    }
    if (read.status !== "text") {
      this.log.warn({ path: d.path, status: read.status }, "outside change ignored: not text");
      return;
    }
    if (read.text === d.disk?.text) return; // our own write, or no change
    let nb: Notebook;
    try {
      nb = parseNotebook(read.text);
    } catch (err) {
      if (!(err instanceof CocalcError)) throw err;
      d.invalid = true;
      this.log.warn({ path: d.path, reason: err.message }, "notebook file is not valid now");
      await this.writeFileFacts(d);
      return;
    }
    await this.merge(d, { nb, text: read.text });
  }

  private async merge(d: OpenNb, now: { nb: Notebook; text: string }): Promise<void> {
    const was = d.disk?.nb;
    d.invalid = false;
    const decisions = decideOutsideChange(d.head, was, now.nb);
    d.disk = now;
    if (decisions.length > 0) {
      const seqs = await this.store(d, decisions, this.opts.actor);
      this.log.info({ path: d.path, events: seqs.length }, "outside notebook change merged");
    }
    if (serializeNotebook(d.head.state.nb) === now.text) {
      d.saved = d.head.head;
      if (d.writeTimer) clearTimeout(d.writeTimer);
      d.writeTimer = undefined;
    }
    await this.writeFileFacts(d);
  }

  private scheduleDisk(d: OpenNb): void {
    if (d.disk === undefined && !d.invalid) return;
    if (d.writeTimer) clearTimeout(d.writeTimer);
    d.writeTimer = setTimeout(() => {
      d.writeTimer = undefined;
      void this.serial(d, () => this.flushDisk(d)).catch(this.warn(d));
    }, this.opts.saveDelayMs);
  }

  /** Writes the notebook if its text differs; `force` writes a deleted or invalid file again. */
  private async flushDisk(d: OpenNb, force = false): Promise<void> {
    if (d.writeTimer) clearTimeout(d.writeTimer);
    d.writeTimer = undefined;
    if ((d.disk === undefined || d.invalid) && !force) return;
    const nb = d.head.state.nb;
    const text = serializeNotebook(nb);
    if (text !== d.disk?.text || force) {
      await this.files.write(d.path, text);
      d.disk = { nb, text };
      d.invalid = false;
    }
    d.saved = d.head.head;
    await this.writeFileFacts(d);
  }

  private async writeFileFacts(d: OpenNb): Promise<void> {
    await writeLive<DocView>(this.view, Keys.doc(this.ctx.wsid, d.doc), (v) => ({
      ...v,
      saved: d.saved,
      disk: d.invalid ? "invalid" : d.disk === undefined ? "deleted" : "present",
      floor: v.floor,
    }));
  }
}

/** What a kernel's outputs are decided against: a code cell's outputs, count and displays. */
export interface KernelCell {
  outputs: string;
  count: number | null;
  displays: readonly [number, string][];
}

function kernelCell(c: NotebookCell): KernelCell {
  return {
    outputs: c.outputs ?? "[]",
    count: c.execution_count ?? null,
    displays: c.displays ?? [],
  };
}

function evolveOpened(event: NotebookEvent & { type: "NotebookOpened" }) {
  return { path: event.data.path, nb: event.data.notebook };
}
