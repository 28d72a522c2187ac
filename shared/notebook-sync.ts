/**
 * A page's copy of one notebook: the notebook folded from its stream, and the text of each
 * cell kept in sync the way the editor keeps a document (a DocSync per cell: local edits go
 * out as PatchCell, one in flight per cell; stored patches come in in stream order and are
 * rebased over what is not stored yet). Structure changes go out as ChangeNotebook. A split
 * or merge changes cells' text too: it comes in as a patch of those cells. Transport-free:
 * the caller sends and feeds the stream (the web page and the tests' Node client).
 */
import { DocClient, DocSync, makePatch, type SendResult } from "./docs.js";
import type { NotebookCell } from "./notebook.js";
import type { NotebookChange, NotebookEvent } from "./notebook-doc.js";
import { cellTextEdits, evolveNotebook, type NotebookState } from "./notebook-fold.js";

export interface NotebookTransport {
  patch(p: {
    path: string;
    id: string;
    base: number;
    patch: string;
    client: string;
    pid: string;
  }): Promise<SendResult>;
  change(c: {
    path: string;
    change: NotebookChange;
    client: string;
    pid: string;
  }): Promise<SendResult & { seqs?: number[] }>;
}

export interface NotebookSyncHooks {
  /** The notebook changed: its cells, their order, outputs, or their stored text. */
  structure(): void;
  /** Cell `id`'s text changed by others (its new local text). */
  text(id: string, text: string): void;
}

export class NotebookSync {
  state: NotebookState | undefined;
  /** The sequence of the last event folded. */
  seq = 0;
  private readonly cells = new Map<string, DocSync>();
  private clients = 0;
  private changes = 0;

  constructor(
    /** This page's client id; each cell's patches carry it with a number of their own. */
    readonly clientId: string,
    private readonly path: string,
    private readonly transport: NotebookTransport,
    private readonly hooks: NotebookSyncHooks,
  ) {}

  private track(cell: NotebookCell, seq: number): void {
    const client = new DocClient(`${this.clientId}-${++this.clients}`, cell.source, seq);
    const id = cell.id;
    this.cells.set(
      id,
      new DocSync(
        client,
        this.path,
        (p) => this.transport.patch({ ...p, id }),
        (text) => this.hooks.text(id, text),
      ),
    );
  }

  /**
   * Starts from a snapshot: the notebook as of sequence `seq` (then the events after it).
   * Only before any event was folded.
   */
  load(state: NotebookState, seq: number): void {
    if (this.seq > 0) throw new Error("notebook sync: a snapshot after events");
    this.state = state;
    this.cells.clear();
    for (const c of state.nb.cells) this.track(c, seq);
    this.seq = seq;
    this.hooks.structure();
  }

  /** The next stored event of the notebook's stream. */
  receive(event: NotebookEvent, seq: number): void {
    if (seq <= this.seq) return;
    if (event.type === "NotebookOpened") {
      this.state = evolveNotebook(undefined, event);
      this.cells.clear();
      for (const c of this.state.nb.cells) this.track(c, seq);
      this.seq = seq;
      this.hooks.structure();
      return;
    }
    if (!this.state) throw new Error("notebook stream: an event before the notebook");
    const edits = cellTextEdits(this.state, event);
    this.state = evolveNotebook(this.state, event);
    this.seq = seq;
    for (const { id, edits: e } of edits) {
      const sync = this.cells.get(id);
      if (!sync) continue;
      if (event.type === "CellPatched") {
        sync.receive({
          seq,
          patch: event.data.patch,
          ...(event.data.client !== undefined && { client: event.data.client }),
          ...(event.data.pid !== undefined && { pid: event.data.pid }),
        });
      } else {
        sync.receive({ seq, patch: makePatch(sync.client.confirmed, e) });
      }
    }
    switch (event.type) {
      case "CellsInserted":
        for (const c of event.data.cells) this.track(c, seq);
        break;
      case "CellSplit":
        this.track(this.cell(event.data.newId)!, seq);
        break;
      case "CellsDeleted":
        for (const id of event.data.ids) this.cells.delete(id);
        break;
      case "CellsMerged":
        this.cells.delete(event.data.next);
        break;
      default:
        break;
    }
    this.hooks.structure();
  }

  /** The cells in order (their text as stored; `text(id)` has the local text). */
  get cellList(): readonly NotebookCell[] {
    return this.state?.nb.cells ?? [];
  }

  cell(id: string): NotebookCell | undefined {
    return this.state?.nb.cells.find((c) => c.id === id);
  }

  /** The text the page shows for cell `id` (its unsent edits included). */
  text(id: string): string {
    return this.cells.get(id)?.client.local ?? this.cell(id)?.source ?? "";
  }

  /** A local edit of cell `id`'s text; flush() sends it. */
  edit(id: string, text: string): void {
    this.cells.get(id)?.edit(text);
  }

  /** Sends what is unsent (of one cell, or of all). */
  async flush(id?: string): Promise<void> {
    const syncs = id === undefined ? [...this.cells.values()] : [this.cells.get(id)];
    await Promise.all(syncs.map((s) => s?.flush()));
  }

  /** Everything typed is stored. */
  get synced(): boolean {
    for (const s of this.cells.values()) if (!s.synced) return false;
    return true;
  }

  /** Whether cell `id`'s text is all stored. */
  cellSynced(id: string): boolean {
    return this.cells.get(id)?.synced ?? true;
  }

  /** The last refusal of a cell's patch, if any. */
  problem(id: string): { code: string; message: string } | undefined {
    return this.cells.get(id)?.problem;
  }

  /** Cell `id`'s stored text and its sequence: what a split position refers to. */
  confirmed(id: string): { text: string; seq: number } | undefined {
    const s = this.cells.get(id);
    return s && { text: s.client.confirmed, seq: s.client.seq };
  }

  /** Sends a structure change. */
  change(change: NotebookChange): Promise<SendResult & { seqs?: number[] }> {
    return this.transport.change({
      path: this.path,
      change,
      client: this.clientId,
      pid: `${this.clientId}-c${++this.changes}`,
    });
  }
}
