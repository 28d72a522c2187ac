/**
 * The store of one open document's editor: opening it, its session, and what the toolbar
 * shows (saved or not, deleted on disk, who else is here). The component owns the store and
 * stops it in onCleanup.
 */
import { type Accessor, createSignal } from "solid-js";
import type { DocPresence, DocView } from "../../../shared/docs.js";
import type { ErrorPayload } from "../../../shared/errors.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { attachDocument, type DocSession, openDocument } from "./doc-session.js";

export type SaveState = "saved" | "saving" | "unsaved" | "deleted";

export type DocumentPhase =
  | { phase: "opening" }
  | { phase: "refused"; why: "binary" | "too-large"; size: number }
  | { phase: "error"; error: ErrorPayload }
  | { phase: "ready"; session: DocSession; doc: string };

export interface DocumentStore {
  readonly phase: Accessor<DocumentPhase>;
  /** The first text is there (the editor can be shown). */
  readonly loaded: Accessor<boolean>;
  readonly saveState: Accessor<SaveState>;
  readonly view: Accessor<DocView | undefined>;
  readonly others: Accessor<readonly DocPresence[]>;
  readonly problem: Accessor<string | undefined>;
  /** Where remote text goes (the editor registers itself). */
  onRemote(apply: (text: string) => void): void;
  save(): Promise<void>;
  retry(): void;
  stop(): void;
}

export function createDocumentStore(conn: WorkspaceConnection, path: string): DocumentStore {
  const [phase, setPhase] = createSignal<DocumentPhase>({ phase: "opening" });
  const [loaded, setLoaded] = createSignal(false);
  const [view, setView] = createSignal<DocView>();
  const [synced, setSynced] = createSignal(true);
  const [seq, setSeq] = createSignal(0);
  const [others, setOthers] = createSignal<readonly DocPresence[]>([]);
  const [problem, setProblem] = createSignal<string>();
  let apply: (text: string) => void = () => undefined;
  let session: DocSession | undefined;
  let stopped = false;

  async function open() {
    setPhase({ phase: "opening" });
    const r = await openDocument(conn, path);
    if (stopped) return;
    if (!r.ok) {
      setPhase(
        "refused" in r
          ? { phase: "refused", why: r.refused, size: r.size }
          : { phase: "error", error: r.error },
      );
      return;
    }
    session = attachDocument(conn, path, r.doc, {
      remote: (text) => {
        apply(text);
        setSeq(session?.sync.client.seq ?? 0);
      },
      status: (s, why) => {
        if (s === "ready") setLoaded(true);
        setProblem(s === "error" ? why : undefined);
        setSeq(session?.sync?.client.seq ?? 0);
      },
      view: setView,
      presence: setOthers,
      synced: (v) => {
        setSynced(v);
        setSeq(session?.sync.client.seq ?? 0);
      },
    });
    setPhase({ phase: "ready", session, doc: r.doc });
  }
  void open();

  const saveState = (): SaveState => {
    const v = view();
    if (v?.disk === "deleted") return "deleted";
    if (!synced()) return "unsaved";
    if (!v || v.saved < seq()) return "saving";
    return "saved";
  };

  return {
    phase,
    loaded,
    saveState,
    view,
    others,
    problem,
    onRemote(fn) {
      apply = fn;
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
      session?.stop();
    },
  };
}
