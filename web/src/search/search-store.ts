/**
 * Search in files for the Search tab: one search at a time, its pages asked for one after the
 * other (the next while the last is drawn) as the fs service finds them, so results stream
 * in, turned into the rows the pane shows (a file, its lines, a gap between lines far apart).
 * A new search ends the previous one. Replace across files sends one `replace` per file with
 * the number of lines the preview showed it, so a file changed since is refused instead of
 * overwritten.
 */
import { type Accessor, createSignal } from "solid-js";
import type { ErrorPayload } from "../../../shared/errors.js";
import type { SearchLine, SearchPage, SearchQuery } from "../../../shared/search.js";
import { errorPayloadOf, type FsClient } from "../files/fs-client.js";

export type SearchRow =
  | { kind: "file"; path: string }
  | { kind: "line"; path: string; line: SearchLine }
  | { kind: "gap"; path: string };

export interface SearchStatus {
  state: "idle" | "searching" | "done" | "failed" | "stopped";
  matches: number;
  filesMatched: number;
  capped: boolean;
  error?: ErrorPayload;
}

export interface ReplaceProgress {
  done: number;
  total: number;
  replaced: number;
  running: boolean;
  failed: { path: string; message: string }[];
}

export interface SearchStore {
  readonly rows: Accessor<readonly SearchRow[]>;
  readonly status: Accessor<SearchStatus>;
  /** The query and folder of the rows shown. */
  readonly shown: Accessor<{ query: SearchQuery; dir: string } | undefined>;
  readonly replacing: Accessor<ReplaceProgress | undefined>;
  run(query: SearchQuery, dir: string, context: number): Promise<void>;
  stop(): void;
  /** Replaces in every file of the results; then searches again. */
  replaceAll(replacement: string): Promise<void>;
  clear(): void;
}

const IDLE: SearchStatus = { state: "idle", matches: 0, filesMatched: 0, capped: false };

export function createSearchStore(fs: FsClient): SearchStore {
  const [rows, setRows] = createSignal<readonly SearchRow[]>([]);
  const [status, setStatus] = createSignal<SearchStatus>(IDLE);
  const [shown, setShown] = createSignal<{ query: SearchQuery; dir: string; context: number }>();
  const [replacing, setReplacing] = createSignal<ReplaceProgress>();
  let generation = 0;
  let running: string | undefined;
  /** Matching lines per file, for the replace's check. */
  let matchLines = new Map<string, number>();
  let lastLine = new Map<string, number>();

  function append(page: SearchPage) {
    if (page.files.length === 0) return;
    const next = [...rows()];
    for (const f of page.files) {
      const last = next.at(-1);
      const continues = last !== undefined && last.kind !== "file" && last.path === f.path;
      if (!continues) next.push({ kind: "file", path: f.path });
      for (const line of f.lines) {
        const before = lastLine.get(f.path);
        if (before !== undefined && line.line > before + 1)
          next.push({ kind: "gap", path: f.path });
        lastLine.set(f.path, line.line);
        next.push({ kind: "line", path: f.path, line });
        if (line.ranges) matchLines.set(f.path, (matchLines.get(f.path) ?? 0) + 1);
      }
    }
    setRows(next);
  }

  const stopRunning = () => {
    if (running) void fs.call({ op: "search-stop", id: running }).catch(() => undefined);
    running = undefined;
  };

  async function find(query: SearchQuery, dir: string, context: number) {
    const gen = ++generation;
    stopRunning();
    setRows([]);
    matchLines = new Map();
    lastLine = new Map();
    setShown({ query, dir, context });
    setStatus({ ...IDLE, state: "searching" });
    try {
      let page = await fs.call({ op: "search", path: dir, query, context, client: fs.clientId });
      for (;;) {
        if (gen !== generation) {
          if (!page.done) void fs.call({ op: "search-stop", id: page.id }).catch(() => undefined);
          return;
        }
        running = page.done ? undefined : page.id;
        // The next page is asked for before this one is drawn: the round trip and the
        // drawing overlap.
        const next = page.done ? undefined : fs.call({ op: "search-more", id: page.id });
        next?.catch(() => undefined);
        append(page);
        setStatus({
          state: page.done ? "done" : "searching",
          matches: page.matches,
          filesMatched: page.filesMatched,
          capped: page.capped,
        });
        if (!next) return;
        page = await next;
      }
    } catch (err) {
      if (gen !== generation) return;
      running = undefined;
      setStatus({ ...status(), state: "failed", error: errorPayloadOf(err) });
    }
  }

  return {
    rows,
    status,
    shown,
    replacing,
    run(query, dir, context) {
      setReplacing(undefined);
      return find(query, dir, context);
    },
    stop() {
      generation++;
      stopRunning();
      if (status().state === "searching") setStatus({ ...status(), state: "stopped" });
    },
    clear() {
      generation++;
      stopRunning();
      setRows([]);
      setShown(undefined);
      setStatus(IDLE);
    },
    async replaceAll(replacement) {
      const s = shown();
      if (!s || status().state !== "done" || status().capped) return;
      const files = [...matchLines];
      const progress: ReplaceProgress = {
        done: 0,
        total: files.length,
        replaced: 0,
        running: true,
        failed: [],
      };
      setReplacing({ ...progress });
      for (const [path, expect] of files) {
        try {
          const r = await fs.call({ op: "replace", path, query: s.query, replacement, expect });
          progress.replaced += r.replaced;
        } catch (err) {
          progress.failed.push({ path, message: errorPayloadOf(err).message });
        }
        progress.done++;
        setReplacing({ ...progress, failed: [...progress.failed] });
      }
      setReplacing({ ...progress, running: false, failed: [...progress.failed] });
      await find(s.query, s.dir, s.context);
    },
  };
}
