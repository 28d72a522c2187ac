/**
 * The explorer's view of one directory: a paged listing (only the pages on screen are
 * fetched, so 100,000 entries are no burden), kept live by the change feed, plus the
 * selection and the file operations. The fs service does the sorting and filtering.
 */
import { type Accessor, batch, createSignal } from "solid-js";
import type { ErrorPayload } from "../../../shared/errors.js";
import {
  type FileEntry,
  type FsRequest,
  LIST_PAGE_SIZE,
  MAX_LIST_PAGE,
  MAX_PATHS_PER_REQUEST,
  type SortKey,
  WATCH_LEASE_MS,
} from "../../../shared/files.js";
import { expandPath, joinPath, parentOf } from "../../../shared/paths.js";
import { errorPayloadOf, type FsClient, FsError } from "./fs-client.js";

export type ExplorerPhase = "idle" | "loading" | "ready" | "error";

export interface ListingPrefs {
  sort: SortKey;
  desc: boolean;
  hidden: boolean;
}

const PREFS_KEY = "cocalc-plus.explorer";
/** After a listing the service did not answer in time, it is asked again this soon. */
const HICCUP_RETRY_MS = 3_000;

function loadPrefs(): ListingPrefs {
  try {
    const v = JSON.parse(localStorage.getItem(PREFS_KEY) ?? "{}") as Partial<ListingPrefs>;
    return {
      sort: v.sort ?? "name",
      desc: v.desc === true,
      hidden: v.hidden === true,
    };
  } catch {
    return { sort: "name", desc: false, hidden: false };
  }
}

export interface ExplorerStore {
  /** The directory shown (canonical), or the one that failed to open. */
  readonly dir: Accessor<string | undefined>;
  readonly phase: Accessor<ExplorerPhase>;
  /** Why the directory cannot be shown (shown in place). */
  readonly error: Accessor<ErrorPayload | undefined>;
  readonly total: Accessor<number>;
  /** Changes whenever rows change; read it to track rowAt(). */
  readonly version: Accessor<number>;
  rowAt(index: number): FileEntry | undefined;
  /** Loads the pages that cover rows [start, end]. */
  ensureRows(start: number, end: number): void;
  readonly prefs: Accessor<ListingPrefs>;
  readonly filter: Accessor<string>;
  setSort(key: SortKey): void;
  setHidden(hidden: boolean): void;
  setFilter(filter: string): void;
  /** Live updates cannot be had for this directory (shown, not fatal). */
  readonly watchProblem: Accessor<string | undefined>;
  /** Opens a directory. Resolves with its canonical path, or undefined when it failed. */
  navigate(path: string): Promise<string | undefined>;
  refresh(): Promise<void>;
  readonly selection: Accessor<ReadonlySet<string>>;
  select(name: string, how?: "only" | "toggle" | "range"): void;
  selectAll(): void;
  clearSelection(): void;
  /** The last failed action, for a notice. */
  readonly actionError: Accessor<ErrorPayload | undefined>;
  clearActionError(): void;
  /** What is being done now, e.g. "Copying 3 items…". */
  readonly busy: Accessor<string | undefined>;
  createFolder(name: string): Promise<boolean>;
  createFile(name: string): Promise<string | undefined>;
  rename(from: string, to: string): Promise<boolean>;
  remove(names: readonly string[]): Promise<boolean>;
  move(names: readonly string[], destination: string): Promise<boolean>;
  copy(names: readonly string[], destination: string): Promise<boolean>;
  /** Runs `fn` (e.g. a download), showing its failure as actionError. */
  report(fn: () => Promise<void>): Promise<void>;
  stop(): void;
}

export function createExplorerStore(fs: FsClient, home: string): ExplorerStore {
  const [dir, setDir] = createSignal<string>();
  const [phase, setPhase] = createSignal<ExplorerPhase>("idle");
  const [error, setError] = createSignal<ErrorPayload>();
  const [total, setTotal] = createSignal(0);
  const [version, setVersion] = createSignal(0);
  const [prefs, setPrefs] = createSignal<ListingPrefs>(loadPrefs());
  const [filter, setFilterSignal] = createSignal("");
  const [watchProblem, setWatchProblem] = createSignal<string>();
  const [selection, setSelection] = createSignal<ReadonlySet<string>>(new Set());
  const [actionError, setActionError] = createSignal<ErrorPayload>();
  const [busy, setBusy] = createSignal<string>();

  let pages = new Map<number, FileEntry[]>();
  let cursor: string | undefined;
  let generation = 0;
  const loading = new Set<number>();
  /** Rows on screen, so a refresh reloads what is seen. */
  let shown: [number, number] = [0, 0];
  let anchor: string | undefined;

  const params = (): Omit<FsRequest<"list">, "path" | "offset" | "limit"> => ({
    op: "list",
    sort: prefs().sort,
    desc: prefs().desc,
    hidden: prefs().hidden,
    filter: filter(),
  });

  function pageRequest(path: string, page: number): FsRequest<"list"> {
    return {
      ...params(),
      path,
      offset: page * LIST_PAGE_SIZE,
      limit: LIST_PAGE_SIZE,
    } as FsRequest<"list">;
  }

  let retry: ReturnType<typeof setTimeout> | undefined;
  /** The last listing was not answered in time (its time says nothing of the folder's size). */
  let hiccup = false;
  /** Lists `path` afresh: the first page, and the pages on screen, swapped in at once. */
  async function load(path: string, keepRows: boolean): Promise<string | undefined> {
    const gen = ++generation;
    if (!keepRows) {
      batch(() => {
        setPhase("loading");
        setError(undefined);
      });
    }
    try {
      const first = await fs.call({ ...pageRequest(path, 0), watch: fs.clientId });
      if (gen !== generation) return undefined;
      const next = new Map<number, FileEntry[]>([[0, first.entries]]);
      if (keepRows) {
        const [a, b] = shown;
        for (let p = Math.floor(a / LIST_PAGE_SIZE); p <= Math.floor(b / LIST_PAGE_SIZE); p++) {
          if (p === 0 || p * LIST_PAGE_SIZE >= first.total) continue;
          const page = await fs.call({ ...pageRequest(first.path, p), cursor: first.cursor });
          if (gen !== generation) return undefined;
          next.set(p, page.entries);
        }
      }
      const previous = dir();
      batch(() => {
        pages = next;
        loading.clear();
        cursor = first.cursor;
        setDir(first.path);
        setTotal(first.total);
        setPhase("ready");
        setError(undefined);
        setWatchProblem(first.watchError?.message);
        if (previous !== first.path) {
          setSelection(new Set<string>());
          anchor = undefined;
        } else {
          // Keep the selection of names that still exist. Only a fully loaded listing tells:
          // in a big folder a selected name may be on a page not loaded.
          const loaded = [...next.values()].flat();
          if (loaded.length >= first.total) {
            const present = new Set(loaded.map((e) => e.name));
            const kept = [...selection()].filter((n) => present.has(n));
            if (kept.length !== selection().size) setSelection(new Set(kept));
          }
        }
        setVersion((v) => v + 1);
      });
      if (previous !== undefined && previous !== first.path) {
        void fs.call({ op: "unwatch", path: previous, client: fs.clientId }).catch(() => undefined);
      }
      return first.path;
    } catch (err) {
      if (gen !== generation) return undefined;
      const e = errorPayloadOf(err);
      if (keepRows && dir() === path && e.code === "ERR_COMMAND_TIMEOUT") {
        // A hiccup of the service (busy, or starting anew): keep showing what we have, and
        // ask again soon, since what changed meanwhile is not on screen.
        setWatchProblem(e.message);
        hiccup = true;
        clearTimeout(retry);
        retry = setTimeout(() => scheduleRefresh(), HICCUP_RETRY_MS);
        return undefined;
      }
      batch(() => {
        pages = new Map();
        setTotal(0);
        setDir(expandPath(path, home, dir() ?? home));
        setError(e);
        setPhase("error");
        setVersion((v) => v + 1);
      });
      return undefined;
    }
  }

  // Live updates: refresh when the directory shown changed, never more than one at a time
  // and with a pause after each that grows with how long a refresh takes (huge directories).
  let refreshing: Promise<void> | undefined;
  let again = false;
  function scheduleRefresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = (async () => {
      const t0 = performance.now();
      const d = dir();
      hiccup = false;
      if (d !== undefined) await load(d, true);
      const took = hiccup ? 0 : performance.now() - t0;
      await new Promise((r) => setTimeout(r, Math.max(150, 2 * took)));
      refreshing = undefined;
      if (again) {
        again = false;
        scheduleRefresh();
      }
    })();
  }

  const offChange = fs.onChange((c) => {
    if (c.dir === dir() && phase() === "ready") scheduleRefresh();
  });
  const offReconnect = fs.onReconnect(() => {
    if (dir() !== undefined) scheduleRefresh();
  });
  // Keep this page's watch alive while the directory is shown.
  const renew = setInterval(() => {
    const d = dir();
    if (d === undefined || phase() !== "ready") return;
    fs.call({ op: "watch", path: d, client: fs.clientId }).then(
      (r) => {
        setWatchProblem(undefined);
        // The service did not hold this page's watch (it started anew): what changed in
        // between was not reported.
        if (!r.renewed) scheduleRefresh();
      },
      (err) => setWatchProblem(errorPayloadOf(err).message),
    );
  }, WATCH_LEASE_MS / 3);

  function ensureRows(start: number, end: number) {
    shown = [start, end];
    const d = dir();
    if (d === undefined || cursor === undefined || phase() !== "ready") return;
    const last = Math.min(end, total() - 1);
    for (let p = Math.floor(start / LIST_PAGE_SIZE); p <= Math.floor(last / LIST_PAGE_SIZE); p++) {
      if (pages.has(p) || loading.has(p)) continue;
      loading.add(p);
      const gen = generation;
      fs.call({ ...pageRequest(d, p), cursor }).then(
        (page) => {
          if (gen !== generation) return;
          loading.delete(p);
          pages.set(p, page.entries);
          setVersion((v) => v + 1);
        },
        (err) => {
          loading.delete(p);
          if (gen !== generation) return;
          if (err instanceof FsError && err.code === "ERR_FS_CURSOR") scheduleRefresh();
          else setActionError(errorPayloadOf(err));
        },
      );
    }
  }

  function rowAt(i: number): FileEntry | undefined {
    return pages.get(Math.floor(i / LIST_PAGE_SIZE))?.[i % LIST_PAGE_SIZE];
  }

  function updatePrefs(change: Partial<ListingPrefs>) {
    const next = { ...prefs(), ...change };
    setPrefs(next);
    try {
      localStorage.setItem(PREFS_KEY, JSON.stringify(next));
    } catch {}
    const d = dir();
    if (d !== undefined) void load(d, false);
  }

  let filterTimer: ReturnType<typeof setTimeout> | undefined;

  /** Runs a file operation, reporting failure as actionError; refreshes afterwards. */
  async function act<T>(what: string | undefined, fn: () => Promise<T>): Promise<T | undefined> {
    setActionError(undefined);
    if (what) setBusy(what);
    try {
      return await fn();
    } catch (err) {
      setActionError(errorPayloadOf(err));
      return undefined;
    } finally {
      if (what) setBusy(undefined);
      scheduleRefresh();
    }
  }

  const here = (name: string) => joinPath(dir() ?? home, name);
  const count = (n: number) => n.toLocaleString("en-US");
  const plural = (n: number) => (n === 1 ? "1 item" : `${count(n)} items`);
  const LONG_MS = 30 * 60_000;

  /**
   * Runs `run` on the names in requests of at most MAX_PATHS_PER_REQUEST paths, saying how
   * far it got; a failure stops at that batch (the ones before it are done and listed).
   */
  async function inBatches(
    verb: string,
    names: readonly string[],
    run: (paths: string[]) => Promise<unknown>,
  ): Promise<boolean> {
    const r = await act(`${verb} ${plural(names.length)}…`, async () => {
      for (let i = 0; i < names.length; i += MAX_PATHS_PER_REQUEST) {
        if (i > 0) setBusy(`${verb} ${count(i)} of ${plural(names.length)}…`);
        await run(names.slice(i, i + MAX_PATHS_PER_REQUEST).map(here));
      }
      return true;
    });
    return r === true;
  }

  /** Selects every name of the listing, fetching the pages not loaded yet (with progress). */
  async function selectEverything(): Promise<void> {
    const d = dir();
    const gen = generation;
    const n = total();
    if (d === undefined || cursor === undefined) return;
    const names: string[] = [];
    setActionError(undefined);
    try {
      for (let offset = 0; offset < n; offset += MAX_LIST_PAGE) {
        setBusy(`Selecting ${count(offset)} of ${plural(n)}…`);
        const page = await fs.call({
          ...params(),
          path: d,
          offset,
          limit: MAX_LIST_PAGE,
          cursor,
        } as FsRequest<"list">);
        if (gen !== generation) return;
        for (const e of page.entries) names.push(e.name);
        if (page.entries.length < MAX_LIST_PAGE) break;
      }
      setSelection(new Set(names));
    } catch (err) {
      if (gen !== generation) return;
      if (err instanceof FsError && err.code === "ERR_FS_CURSOR") scheduleRefresh();
      setActionError(errorPayloadOf(err));
    } finally {
      setBusy(undefined);
    }
  }

  return {
    dir,
    phase,
    error,
    total,
    version,
    rowAt,
    ensureRows,
    prefs,
    filter,
    setSort(key) {
      const p = prefs();
      updatePrefs(p.sort === key ? { desc: !p.desc } : { sort: key, desc: false });
    },
    setHidden(hidden) {
      updatePrefs({ hidden });
    },
    setFilter(value) {
      setFilterSignal(value);
      clearTimeout(filterTimer);
      filterTimer = setTimeout(() => {
        const d = dir();
        if (d !== undefined) void load(d, false);
      }, 150);
    },
    watchProblem,
    navigate(path) {
      // A filter typed a moment ago must not reload the directory being left.
      clearTimeout(filterTimer);
      setFilterSignal("");
      return load(path, false);
    },
    refresh: async () => {
      const d = dir();
      if (d !== undefined) await load(d, phase() === "ready");
    },
    selection,
    select(name, how = "only") {
      const cur = new Set(selection());
      if (how === "toggle") {
        if (cur.has(name)) cur.delete(name);
        else cur.add(name);
        anchor = name;
      } else if (how === "range" && anchor !== undefined) {
        const names: string[] = [];
        for (let i = 0; i < total(); i++) {
          const r = rowAt(i);
          if (r) names.push(r.name);
        }
        const a = names.indexOf(anchor);
        const b = names.indexOf(name);
        if (a !== -1 && b !== -1) {
          for (let i = Math.min(a, b); i <= Math.max(a, b); i++) cur.add(names[i]!);
        } else cur.add(name);
      } else {
        cur.clear();
        cur.add(name);
        anchor = name;
      }
      setSelection(cur);
    },
    selectAll() {
      const all = new Set<string>();
      for (const page of pages.values()) for (const e of page) all.add(e.name);
      // Rows not loaded yet (a big folder) are fetched; until then the loaded ones show.
      setSelection(all);
      if (all.size < total()) void selectEverything();
    },
    clearSelection() {
      setSelection(new Set<string>());
    },
    actionError,
    clearActionError: () => setActionError(undefined),
    async report(fn) {
      setActionError(undefined);
      try {
        await fn();
      } catch (err) {
        setActionError(errorPayloadOf(err));
      }
    },
    busy,
    async createFolder(name) {
      const r = await act(undefined, () =>
        fs.call({ op: "mkdir", path: here(name), parents: false }),
      );
      return r !== undefined;
    },
    async createFile(name) {
      const r = await act(undefined, () =>
        fs.call({ op: "write", path: here(name), content: "", encoding: "utf8", exclusive: true }),
      );
      return r?.path;
    },
    async rename(from, to) {
      if (from === to) return true;
      const r = await act(undefined, () =>
        fs.call({ op: "rename", from: here(from), to: here(to) }),
      );
      if (r) setSelection(new Set([to]));
      return r !== undefined;
    },
    async remove(names) {
      const ok = await inBatches("Deleting", names, (paths) =>
        fs.call({ op: "delete", paths }, LONG_MS),
      );
      if (ok) setSelection(new Set<string>());
      return ok;
    },
    async move(names, destination) {
      const to = expandPath(destination, home, dir() ?? home);
      const ok = await inBatches("Moving", names, (paths) =>
        fs.call({ op: "move", paths, dir: to }, LONG_MS),
      );
      if (ok) setSelection(new Set<string>());
      return ok;
    },
    async copy(names, destination) {
      const to = expandPath(destination, home, dir() ?? home);
      return inBatches("Copying", names, (paths) =>
        fs.call({ op: "copy", paths, dir: to }, LONG_MS),
      );
    },
    stop() {
      clearInterval(renew);
      clearTimeout(retry);
      clearTimeout(filterTimer);
      offChange();
      offReconnect();
      const d = dir();
      if (d !== undefined) {
        void fs.call({ op: "unwatch", client: fs.clientId }).catch(() => undefined);
      }
      generation++;
    },
  };
}

/** The parent directory to go "up" to, or undefined at `/`. */
export function upOf(dir: string | undefined): string | undefined {
  return dir === undefined || dir === "/" ? undefined : parentOf(dir);
}
