/**
 * Files for the whole page: the fs client, the explorer, uploads and open documents, and
 * the glue to the address bar (deep links, reload, back/forward). Everything that opens a
 * path goes through `openPath`, which decides by what the path is: a directory opens in the
 * explorer, a file goes to the first opener that takes it (terminal files to the terminals,
 * everything else to the documents of the Editor tab, which the editor will take over).
 */
import {
  type Accessor,
  createContext,
  createSignal,
  type JSX,
  onCleanup,
  useContext,
} from "solid-js";
import type { ErrorPayload } from "../../../shared/errors.js";
import type { FileEntry, StatResult } from "../../../shared/files.js";
import { joinPath, parentOf } from "../../../shared/paths.js";
import { useAgents } from "../agents/agents-store.js";
import { backoffMs, delay } from "../lib/delay.js";
import { type FileRoutes, fileRoutes } from "../lib/file-routes.js";
import { apiFetch, downloadThrough, errorMessage } from "../lib/session.js";
import { useConnection } from "../stores/connection-store.js";
import { useTerminals } from "../terminals/terminals-store.js";
import { createDocumentsStore, type DocumentsStore } from "./documents-store.js";
import { createExplorerStore, type ExplorerStore } from "./explorer-store.js";
import { watchFile } from "./file-watch.js";
import { createFolderPickerStore, type FolderPickerStore } from "./folder-picker-store.js";
import { createFsClient, errorPayloadOf, type FsClient } from "./fs-client.js";
import { pathInAddressBar, pushUrl, replaceUrl, showTab, urlOf } from "./route.js";
import { createUploadsStore, type UploadsStore } from "./uploads-store.js";

/** Something that can show a file: the first whose `canOpen` says yes gets it. */
export interface FileOpener {
  name: string;
  canOpen(path: string): boolean;
  /** Shows the file (and its tab). */
  open(path: string): void | Promise<void>;
}

export interface FilesSession {
  readonly home: string;
  readonly fs: FsClient;
  readonly explorer: ExplorerStore;
  readonly uploads: UploadsStore;
  readonly documents: DocumentsStore;
  /** Opens any path: a directory in the explorer, a file with its opener. */
  openPath(path: string): Promise<void>;
  /** Opens file `path` in the editor at line `line` (a search result, quick open). */
  openAt(path: string, line?: number): Promise<void>;
  /** Opens an entry of the directory shown. */
  openEntry(entry: FileEntry): Promise<void>;
  /** Downloads a path (a directory comes as a tar archive) through a signed link. */
  download(path: string): Promise<void>;
  /** The bytes of file `path`, read through the same download route as a download. */
  readBytes(path: string, signal?: AbortSignal): Promise<Blob>;
  /** A folder picker (the Move and Copy dialogs) starting at `start`. */
  folderPicker(start: string): FolderPickerStore;
  /** The bytes of file `path` as they arrive, and how many there are (null when not said). */
  readStream(
    path: string,
    signal?: AbortSignal,
  ): Promise<{ size: number | null; body: ReadableStream<Uint8Array> }>;
  /** Bytes `start` to `end` (exclusive) of file `path`, by a Range request of the same route. */
  readRange(path: string, start: number, end: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Calls `changed` whenever file `path` may have changed on disk; returns the stop. */
  watchFile(path: string, changed: () => void): () => void;
  /** The Editor tab shows document `path` (or none): keeps the address bar in step. */
  showDocument(path: string | undefined): void;
  /** Ends what the session listens to and runs. */
  stop(): void;
}

export interface FilesStore {
  /** Set once the fs service has told us the home directory. */
  readonly session: Accessor<FilesSession | undefined>;
  /** Why there is no session yet (the fs service is not answering); retried. */
  readonly problem: Accessor<ErrorPayload | undefined>;
}

function notifyTabRouter() {
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

function createSession(
  fs: FsClient,
  routes: FileRoutes,
  home: string,
  openers: FileOpener[],
  wsid: string,
): FilesSession {
  const explorer = createExplorerStore(fs, home);
  const documents = createDocumentsStore(
    fs,
    `cocalc-recent-files:${wsid}`,
    `cocalc-open-tabs:${wsid}`,
  );
  const uploads = createUploadsStore(
    fs,
    {
      uploaded: (dir) => {
        if (dir === explorer.dir()) void explorer.refresh();
      },
    },
    routes.upload,
  );
  const documentOpener: FileOpener = {
    name: "preview",
    canOpen: () => true,
    open(path) {
      documents.open(path);
      showTab("editor");
    },
  };
  const chain = [...openers, documentOpener];

  /** Shows directory `path`; `push` adds a history entry for it. */
  async function showDir(path: string, history: "push" | "replace" | "none") {
    const real = await explorer.navigate(path);
    const url = urlOf(real ?? path, home);
    if (history === "push") pushUrl(url);
    else if (history === "replace") replaceUrl(url);
  }

  /** What the address bar names: a directory, or a file (with its directory in the explorer). */
  async function openLocation(path: string, initial: boolean) {
    let stat: StatResult;
    try {
      stat = await fs.call({ op: "stat", path });
    } catch {
      // Unreadable, missing, refused: the explorer says why, in place.
      await showDir(path, "none");
      if (initial && location.hash === "") showTab("files");
      return;
    }
    if (stat.type === "dir") {
      await showDir(stat.real, "replace");
      return;
    }
    await showDir(parentOf(stat.real), "none");
    const opener = chain.find((o) => o.canOpen(stat.real))!;
    if (opener === documentOpener) {
      documents.open(stat.real);
      replaceUrl(urlOf(stat.real, home, location.hash || "#editor"));
      notifyTabRouter();
    } else {
      replaceUrl(urlOf(stat.real, home, location.hash));
      await opener.open(stat.real);
    }
  }

  const onPop = () => void openLocation(pathInAddressBar(home) ?? home, false);
  window.addEventListener("popstate", onPop);
  const start = pathInAddressBar(home);
  if (start === undefined) void showDir(home, "none");
  else void openLocation(start, true);

  async function openFile(path: string, line?: number) {
    let real = path;
    try {
      real = (await fs.call({ op: "stat", path })).real;
    } catch {
      // Open it anyway: the document shows the error in place.
    }
    const opener = chain.find((o) => o.canOpen(real))!;
    if (opener === documentOpener) {
      pushUrl(urlOf(real, home, "#editor"));
      documents.open(real, line);
      notifyTabRouter();
    } else {
      await opener.open(real);
    }
  }

  return {
    home,
    fs,
    explorer,
    uploads,
    documents,
    async openPath(path) {
      let stat: StatResult | undefined;
      try {
        stat = await fs.call({ op: "stat", path });
      } catch {
        // Shown by the explorer, in place.
      }
      if (stat && stat.type !== "dir") return openFile(stat.real);
      await showDir(stat?.real ?? path, "push");
      showTab("files");
    },
    openAt: (path, line) => openFile(path, line),
    async openEntry(entry) {
      const path = joinPath(explorer.dir() ?? home, entry.name);
      if (entry.type === "dir" || entry.link?.type === "dir") return showDir(path, "push");
      return openFile(path);
    },
    download: (path) => downloadThrough(`${routes.download}?${new URLSearchParams({ path })}`),
    async readBytes(path, signal) {
      const res = await apiFetch(`${routes.download}?${new URLSearchParams({ path })}`, {
        signal,
        cache: "no-store",
      });
      if (!res.ok) throw new Error(await errorMessage(res));
      return res.blob();
    },
    folderPicker: (start) => createFolderPickerStore(fs, home, start, explorer.prefs().hidden),
    async readStream(path, signal) {
      const res = await apiFetch(`${routes.download}?${new URLSearchParams({ path })}`, {
        signal,
        cache: "no-store",
      });
      if (!res.ok || !res.body) throw new Error(await errorMessage(res));
      const length = res.headers.get("Content-Length");
      return { size: length === null ? null : Number(length), body: res.body };
    },
    async readRange(path, start, end, signal) {
      if (end <= start) return new Uint8Array(0);
      const res = await apiFetch(`${routes.download}?${new URLSearchParams({ path })}`, {
        signal,
        cache: "no-store",
        headers: { Range: `bytes=${start}-${end - 1}` },
      });
      if (!res.ok) throw new Error(await errorMessage(res));
      const bytes = new Uint8Array(await res.arrayBuffer());
      // A server that ignored the range sent the whole file: keep only what was asked.
      return res.status === 206 ? bytes : bytes.subarray(start, end);
    },
    watchFile: (path, changed) => watchFile(fs, path, changed),
    showDocument(path) {
      const target = path ?? explorer.dir() ?? home;
      if (location.hash === "#editor") replaceUrl(urlOf(target, home, "#editor"));
    },
    stop() {
      window.removeEventListener("popstate", onPop);
      explorer.stop();
      uploads.stop();
    },
  };
}

export function createFilesStore(
  conn: ReturnType<typeof useConnection>,
  openers: FileOpener[],
): FilesStore & { stop(): void } {
  const fs = createFsClient(conn);
  const [session, setSession] = createSignal<FilesSession>();
  const [problem, setProblem] = createSignal<ErrorPayload>();
  const stopping = new AbortController();

  void (async () => {
    for (let failures = 0; !stopping.signal.aborted; failures++) {
      await conn.ready(stopping.signal);
      if (stopping.signal.aborted) return;
      try {
        const info = await fs.call({ op: "info" }, 10_000);
        if (stopping.signal.aborted) return;
        setProblem(undefined);
        setSession(createSession(fs, fileRoutes(conn), info.home, openers, conn.wsid));
        return;
      } catch (err) {
        setProblem(errorPayloadOf(err));
      }
      await delay(Math.max(500, backoffMs(failures + 1)), stopping.signal);
    }
  })();

  return {
    session,
    problem,
    stop() {
      stopping.abort();
      session()?.stop();
      fs.close();
    },
  };
}

const FilesContext = createContext<FilesStore>();

/** Terminal files (`*.term`) open their terminal, when the terminals are there. */
function terminalOpener(): FileOpener[] {
  try {
    const terminals = useTerminals();
    return [
      {
        name: "terminal",
        canOpen: (path) => path.endsWith(".term"),
        open: async (path) => {
          await terminals.openPath(path);
        },
      },
    ];
  } catch {
    return [];
  }
}

/** Chat room files (`*.chat`) open in the Agents tab, when the agents are there. */
function chatOpener(): FileOpener[] {
  try {
    const agents = useAgents();
    return [
      {
        name: "chat",
        canOpen: (path) => path.endsWith(".chat"),
        open: (path) => {
          agents.openRoom(path);
          showTab("agents");
        },
      },
    ];
  } catch {
    return [];
  }
}

export function FilesProvider(props: { children: JSX.Element }) {
  const store = createFilesStore(useConnection(), [...terminalOpener(), ...chatOpener()]);
  onCleanup(() => store.stop());
  return <FilesContext.Provider value={store}>{props.children}</FilesContext.Provider>;
}

export function useFiles(): FilesStore {
  const store = useContext(FilesContext);
  if (!store) throw new Error("useFiles called outside <FilesProvider>");
  return store;
}
