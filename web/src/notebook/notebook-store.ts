/**
 * The store of one open notebook's page: opening it, its session, the cells in order, which
 * cell is selected and whether it is being edited (JupyterLab's command and edit modes), the
 * structure actions, and the kernel seam. The component owns the store and stops it in
 * onCleanup.
 *
 * The kernel: running, interrupting and restarting go to `kernel` (kernel-session.ts, the
 * kernels service's side of the page); a kernel's outputs reach the page as the notebook's
 * own OutputsSet events, which the docs service stores, like every tab.
 */
import { type Accessor, batch, createSignal } from "solid-js";
import type { DocView } from "../../../shared/docs.js";
import type { ErrorPayload } from "../../../shared/errors.js";
import {
  type CellType,
  type NotebookCell,
  newCellId,
  notebookKernelspec,
  notebookLanguage,
} from "../../../shared/notebook.js";
import type { NotebookPresence } from "../../../shared/notebook-doc.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { createPageKernel, type PageKernel, type PageKernelContext } from "./kernel-session.js";
import { attachNotebook, type NotebookSession, openNotebook } from "./notebook-session.js";

export type NotebookPhase =
  | { phase: "opening" }
  | { phase: "refused"; why: "binary" | "too-large"; size: number; limit?: number }
  | { phase: "invalid"; message: string; text: string; length?: number }
  | { phase: "error"; error: ErrorPayload }
  | { phase: "ready" };

export type NotebookMode = "command" | "edit";
export type SaveState = "saved" | "saving" | "unsaved" | "deleted" | "invalid";

export interface NotebookStore {
  readonly phase: Accessor<NotebookPhase>;
  readonly loaded: Accessor<boolean>;
  /** The notebook's document id (its stream), once open. */
  readonly doc: Accessor<string | undefined>;
  /** The cells in order (their stored text; `text(id)` is what the page shows). */
  readonly cells: Accessor<readonly NotebookCell[]>;
  /** The language of code cells (metadata: language_info, kernelspec). */
  readonly language: Accessor<string>;
  /** The kernelspec the notebook names (python3 when it names none) and its display name. */
  readonly kernelspec: Accessor<string>;
  readonly kernelDisplayName: Accessor<string | undefined>;
  readonly selected: Accessor<string | undefined>;
  readonly mode: Accessor<NotebookMode>;
  /** Markdown cells shown as their source (being edited) rather than rendered. */
  readonly editingMarkdown: Accessor<ReadonlySet<string>>;
  readonly saveState: Accessor<SaveState>;
  readonly problem: Accessor<string | undefined>;
  readonly notice: Accessor<string | undefined>;
  readonly kernel: PageKernel;
  /** Others' cursors and selections (each in one cell). */
  readonly others: Accessor<readonly NotebookPresence[]>;
  text(id: string): string;
  /** Says `message` in the page's notice line for a few seconds. */
  tell(message: string): void;
  /** This viewer's selection in cell `id`, for others to see. */
  selectText(id: string, anchor: number, head: number): void;
  /** Where a cell's remote text goes (its editor registers itself while mounted). */
  onRemote(id: string, apply: ((text: string) => void) | undefined): void;
  edit(id: string, text: string): void;
  select(id: string | undefined, mode?: NotebookMode): void;
  setMode(mode: NotebookMode): void;
  selectNext(delta: number): void;
  insert(where: "above" | "below", type?: CellType): Promise<void>;
  remove(ids?: string[]): Promise<void>;
  undoDelete(): Promise<void>;
  move(delta: number): Promise<void>;
  setType(type: CellType, ids?: string[]): Promise<void>;
  split(id: string, at: number): Promise<void>;
  mergeBelow(id?: string): Promise<void>;
  clearOutputs(all?: boolean): Promise<void>;
  /** Shift-Enter: runs (renders a markdown cell) and selects the next cell. */
  runAndAdvance(): Promise<void>;
  /** Ctrl-Enter: runs (renders) the selected cell and stays. */
  runSelected(): Promise<void>;
  /** Runs every code cell, those above the selected one, or it and those below. */
  runMany(which: "all" | "above" | "below"): Promise<void>;
  /** Restarts the kernel, then runs every code cell. */
  restartAndRunAll(): Promise<void>;
  save(): Promise<void>;
  retry(): void;
  stop(): void;
}

/** Makes the kernel side of one notebook's page (tests may give another). */
export type KernelFactory = (ctx: PageKernelContext) => PageKernel;

export function createNotebookStore(
  conn: WorkspaceConnection,
  path: string,
  makeKernel: KernelFactory = createPageKernel,
): NotebookStore {
  const [phase, setPhase] = createSignal<NotebookPhase>({ phase: "opening" });
  const [loaded, setLoaded] = createSignal(false);
  const [doc, setDoc] = createSignal<string>();
  const [cells, setCells] = createSignal<readonly NotebookCell[]>([]);
  const [language, setLanguage] = createSignal("python");
  const [kernelspec, setKernelspec] = createSignal("python3");
  const [kernelDisplayName, setKernelDisplayName] = createSignal<string>();
  const [selected, setSelected] = createSignal<string>();
  const [mode, setModeSignal] = createSignal<NotebookMode>("command");
  const [editingMarkdown, setEditingMarkdown] = createSignal<ReadonlySet<string>>(new Set());
  const [view, setView] = createSignal<DocView>();
  const [synced, setSynced] = createSignal(true);
  const [problem, setProblem] = createSignal<string>();
  const [notice, setNotice] = createSignal<string>();
  const [others, setOthers] = createSignal<readonly NotebookPresence[]>([]);
  const remotes = new Map<string, (text: string) => void>();
  /** Deleted cells, newest last, for Z. */
  const deleted: {
    after: string | null;
    cells: { id: string; cell_type: CellType; source: string }[];
  }[] = [];
  let session: NotebookSession | undefined;
  let stopped = false;
  let noticeTimer: ReturnType<typeof setTimeout> | undefined;

  const tell = (message: string) => {
    setNotice(message);
    if (noticeTimer) clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => setNotice(undefined), 6000);
  };
  const kernel = makeKernel({
    conn,
    path,
    text: (id) => session?.sync.text(id) ?? "",
    isCode: (id) => session?.sync.cell(id)?.cell_type === "code",
    kernelspec: () => kernelspec(),
    name: async (spec) => {
      await change({
        op: "kernel",
        kernelspec: { name: spec.name, display_name: spec.displayName, language: spec.language },
      });
    },
    tell,
  });

  const refresh = () => {
    const s = session?.sync;
    if (!s) return;
    batch(() => {
      setCells(s.cellList.slice());
      if (s.state) {
        setLanguage(notebookLanguage(s.state.nb));
        const named = notebookKernelspec(s.state.nb);
        setKernelspec(named?.name ?? "python3");
        setKernelDisplayName(named?.displayName);
      }
      const sel = selected();
      if (sel === undefined || !s.cell(sel)) setSelected(s.cellList[0]?.id);
    });
  };

  async function open() {
    setPhase({ phase: "opening" });
    const r = await openNotebook(conn, path);
    if (stopped) return;
    if (!r.ok) {
      if ("refused" in r)
        setPhase({
          phase: "refused",
          why: r.refused,
          size: r.size,
          ...(r.limit !== undefined && { limit: r.limit }),
        });
      else if ("invalid" in r) setPhase({ phase: "invalid", ...r.invalid });
      else setPhase({ phase: "error", error: r.error });
      return;
    }
    setDoc(r.doc);
    session = attachNotebook(conn, path, r.doc, {
      structure: refresh,
      text: (id, text) => remotes.get(id)?.(text),
      status: (s, why) => {
        if (s === "ready") {
          setLoaded(true);
          refresh();
        }
        setProblem(s === "error" ? why : undefined);
      },
      view: setView,
      synced: setSynced,
      presence: setOthers,
    });
    setPhase({ phase: "ready" });
  }
  void open();

  const saveState = (): SaveState => {
    const v = view();
    if (v?.disk === "deleted") return "deleted";
    if (v?.disk === "invalid") return "invalid";
    if (!synced()) return "unsaved";
    if (!v || v.saved < (session?.sync.seq ?? 0)) return "saving";
    return "saved";
  };

  const index = (id: string | undefined) => cells().findIndex((c) => c.id === id);
  const change = async (c: Parameters<NotebookSession["change"]>[0]) => {
    const error = await session?.change(c);
    if (error) tell(error.message);
    return error;
  };

  const store: NotebookStore = {
    phase,
    loaded,
    doc,
    cells,
    language,
    kernelspec,
    kernelDisplayName,
    selected,
    mode,
    editingMarkdown,
    saveState,
    problem,
    notice,
    kernel,
    others,
    text: (id) => session?.sync.text(id) ?? "",
    tell,
    selectText(id, anchor, head) {
      session?.select(id, anchor, head);
    },
    onRemote(id, apply) {
      if (apply) remotes.set(id, apply);
      else remotes.delete(id);
    },
    edit(id, text) {
      session?.edit(id, text);
    },
    select(id, m) {
      batch(() => {
        setSelected(id);
        if (m) store.setMode(m);
      });
    },
    setMode(m) {
      const id = selected();
      batch(() => {
        setModeSignal(m);
        if (m === "edit" && id && session?.sync.cell(id)?.cell_type !== "code") {
          const next = new Set(editingMarkdown());
          next.add(id);
          setEditingMarkdown(next);
        }
      });
    },
    selectNext(delta) {
      const list = cells();
      const i = index(selected());
      const j = Math.min(list.length - 1, Math.max(0, i + delta));
      if (list[j]) setSelected(list[j]!.id);
    },
    async insert(where, type = "code") {
      const i = index(selected());
      const list = cells();
      const after =
        where === "below"
          ? (list[i]?.id ?? list[list.length - 1]?.id ?? null)
          : i > 0
            ? list[i - 1]!.id
            : null;
      const id = newCellId();
      const error = await change({
        op: "insert",
        after,
        cells: [{ id, cell_type: type, source: "" }],
      });
      if (!error) setSelected(id);
    },
    async remove(ids) {
      const list = cells();
      const gone = ids ?? (selected() ? [selected()!] : []);
      if (gone.length === 0) return;
      const first = index(gone[0]);
      const kept = list.filter((c) => !gone.includes(c.id));
      const snapshot = list
        .filter((c) => gone.includes(c.id))
        .map((c) => ({ id: c.id, cell_type: c.cell_type, source: store.text(c.id) }));
      // Undoable at once: the cells leave the page before the service has answered, and a Z
      // pressed in between must find them.
      const entry = { after: first > 0 ? list[first - 1]!.id : null, cells: snapshot };
      deleted.push(entry);
      if (deleted.length > 20) deleted.shift();
      const error = await change({ op: "delete", ids: gone });
      if (error) {
        const at = deleted.indexOf(entry);
        if (at !== -1) deleted.splice(at, 1);
        return;
      }
      setSelected(kept[Math.min(first, kept.length - 1)]?.id);
    },
    async undoDelete() {
      const last = deleted.pop();
      if (!last) return;
      const after = last.after !== null && session?.sync.cell(last.after) ? last.after : null;
      // Always under new ids: a Z pressed before the service has answered the delete would
      // insert an id whose delete is still on its way (and is then applied to the copy).
      const cellsBack = last.cells.map((c) => ({ ...c, id: newCellId() }));
      const error = await change({ op: "insert", after, cells: cellsBack });
      if (!error) setSelected(cellsBack[0]!.id);
    },
    async move(delta) {
      const id = selected();
      const list = cells();
      const i = index(id);
      if (!id || i === -1) return;
      const j = i + delta;
      if (j < 0 || j >= list.length) return;
      // Moving up: after the cell two above; down: after the cell below.
      const after = delta < 0 ? (j === 0 ? null : list[j - 1]!.id) : list[j]!.id;
      await change({ op: "move", id, after });
    },
    async setType(type, ids) {
      for (const id of ids ?? (selected() ? [selected()!] : [])) {
        await change({ op: "type", id, cell_type: type });
      }
    },
    async split(id, at) {
      if (!session) return;
      await session.settle(id);
      const c = session.sync.confirmed(id);
      if (!c) return;
      const newId = newCellId();
      const error = await change({
        op: "split",
        id,
        base: c.seq,
        at: Math.min(at, c.text.length),
        newId,
      });
      if (!error) setSelected(newId);
    },
    async mergeBelow(id = selected()) {
      if (!session || !id) return;
      const list = cells();
      const next = list[index(id) + 1];
      if (!next) return;
      await Promise.all([session.settle(id), session.settle(next.id)]);
      await change({ op: "merge", id, next: next.id });
    },
    async clearOutputs(all = false) {
      const ids = all ? cells().map((c) => c.id) : selected() ? [selected()!] : [];
      if (ids.length > 0) await change({ op: "clear", ids });
    },
    async runSelected() {
      const id = selected();
      const cell = id ? session?.sync.cell(id) : undefined;
      if (!cell || !id) return;
      if (cell.cell_type === "code") await kernel.run([id]);
      else {
        const next = new Set(editingMarkdown());
        next.delete(id);
        setEditingMarkdown(next);
      }
      setModeSignal("command");
    },
    async runMany(which) {
      const list = cells();
      const i = Math.max(0, index(selected()));
      const part = which === "all" ? list : which === "above" ? list.slice(0, i) : list.slice(i);
      await kernel.run(part.filter((c) => c.cell_type === "code").map((c) => c.id));
    },
    async restartAndRunAll() {
      await kernel.restart();
      await store.runMany("all");
    },
    async runAndAdvance() {
      const i = index(selected());
      await store.runSelected();
      const list = cells();
      if (i === list.length - 1) await store.insert("below");
      else store.selectNext(1);
    },
    async save() {
      const error = await session?.save();
      setProblem(error ? error.message : undefined);
    },
    retry() {
      session?.stop();
      session = undefined;
      setLoaded(false);
      void open();
    },
    stop() {
      stopped = true;
      if (noticeTimer) clearTimeout(noticeTimer);
      session?.stop();
      kernel.stop();
    },
  };
  return store;
}
