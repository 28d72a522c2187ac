/**
 * Search in files and quick open, answered by ripgrep (`rg --json`, `rg --files`) run without a
 * shell in the directory searched: the pattern and globs are single arguments after their
 * options, never parsed by anything but ripgrep. Files .gitignore ignores (in a git repository
 * or not: a home folder often is none), hidden files and
 * binary files are left out, as ripgrep does; symlinks are not followed, so nothing outside the
 * directory (or the sandbox) is read. Without ripgrep both answer ERR_SEARCH_UNAVAILABLE.
 *
 * A search keeps at most eight pages of lines; past that ripgrep's output is paused (so ripgrep
 * waits) until the page asks for more, and at MAX_SEARCH_LINES it is ended (`capped`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { randomId } from "../../shared/base64url.js";
import { CocalcError } from "../../shared/errors.js";
import type { FsRequest, FsResults } from "../../shared/files.js";
import { joinPath } from "../../shared/paths.js";
import {
  type FindFilesResult,
  fuzzyScore,
  MAX_LINE_CHARS,
  MAX_QUICK_OPEN_FILES,
  MAX_SEARCH_LINES,
  QUICK_OPEN_RESULTS,
  replaceLines,
  SEARCH_PAGE_LINES,
  type SearchFile,
  type SearchLine,
  type SearchPage,
  type SearchQuery,
  searchRegExp,
} from "../../shared/search.js";
import type { PathResolver } from "../runtime/paths.js";
import type { FileOperations } from "./operations.js";

/**
 * Pages of lines a search keeps before ripgrep is paused: enough that ripgrep is not held up
 * by the page's round trips (each asks for one page), few enough to stay small (at most
 * about 1 MB of lines).
 */
const QUEUED_PAGES = 8;
/** Searches kept at once (the oldest is ended). */
const MAX_SEARCHES = 8;
/** A search nobody asked for more of for this long is ended. */
const SEARCH_IDLE_MS = 60_000;
/** One line of ripgrep's output longer than this is skipped (a minified file's line). */
const MAX_RG_LINE_BYTES = 4 * 1024 * 1024;
/** A search with nothing new answers after this long (empty), so no request waits too long. */
const LONG_POLL_MS = 5_000;
/** How long a later page waits for a page's worth of lines. */
const GATHER_MS = 50;
/** A quick-open listing is reused for this long (typing a name asks many times). */
const FILES_CACHE_MS = 10_000;
/** ripgrep's stderr kept for an error message. */
const MAX_STDERR = 4096;

const unavailable = () =>
  new CocalcError(
    "ERR_SEARCH_UNAVAILABLE",
    "ripgrep (rg) is not installed where the workspace's files are: search in files and quick open need it (Debian/Ubuntu: apt install ripgrep)",
  );

/** Splits a stream into lines, dropping (not keeping) any line longer than `max` bytes. */
class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;
  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
  ) {}
  push(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      if (!this.skipping) this.parts.push(chunk.subarray(start, nl));
      const line = Buffer.concat(this.parts).toString("utf8");
      const skipped = this.skipping;
      this.parts = [];
      this.size = 0;
      this.skipping = false;
      start = nl + 1;
      if (!skipped) this.onLine(line);
    }
    if (start < chunk.length && !this.skipping) {
      this.size += chunk.length - start;
      if (this.size > this.max) {
        this.skipping = true;
        this.parts = [];
      } else this.parts.push(chunk.subarray(start));
    }
  }
}

function rgArgs(q: SearchQuery, context: number): string[] {
  return [
    "--json",
    "--no-config",
    "--no-require-git",
    q.caseSensitive ? "--case-sensitive" : "--ignore-case",
    ...(q.regex ? [] : ["--fixed-strings"]),
    ...(q.wholeWord ? ["--word-regexp"] : []),
    ...(context > 0 ? [`--context=${context}`] : []),
    ...q.include.map((g) => `--glob=${g}`),
    ...q.exclude.map((g) => `--glob=!${g}`),
    `--regexp=${q.pattern}`,
    "--",
    ".",
  ];
}

function runRg(rg: string, args: string[], cwd: string): ChildProcess {
  const env = { ...process.env };
  delete env.RIPGREP_CONFIG_PATH;
  return spawn(rg, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
}

interface RgText {
  text?: string;
  bytes?: string;
}
const textOf = (t: RgText | undefined) =>
  t?.text ?? (t?.bytes ? Buffer.from(t.bytes, "base64").toString("utf8") : "");

/** A line of ripgrep's: its text cut around the first match, byte offsets made UTF-16 ones. */
function searchLine(
  lineNumber: number,
  lines: RgText,
  submatches: { start: number; end: number }[],
  isMatch: boolean,
): SearchLine {
  const raw =
    lines.text ?? (lines.bytes ? Buffer.from(lines.bytes, "base64").toString("utf8") : "");
  const bytes = Buffer.from(raw, "utf8");
  const full = raw.replace(/\r?\n$/, "");
  const at = (b: number) => bytes.subarray(0, b).toString("utf8").length;
  let ranges = isMatch
    ? submatches.map((m) => [at(m.start), at(m.end)] as [number, number])
    : undefined;
  let text = full;
  let from: number | undefined;
  if (full.length > MAX_LINE_CHARS) {
    const first = ranges?.[0]?.[0] ?? 0;
    const start = Math.max(0, Math.min(first - 40, full.length - MAX_LINE_CHARS));
    text = full.slice(start, start + MAX_LINE_CHARS);
    if (start > 0) from = start;
    ranges = ranges
      ?.map(([s, e]) => [s - start, Math.min(e - start, MAX_LINE_CHARS)] as [number, number])
      .filter(([s, e]) => s >= 0 && e > s);
  }
  return { line: lineNumber, text, ...(ranges && { ranges }), ...(from && { from }) };
}

/** One running search: ripgrep's lines, queued until the page asks for them. */
class Search {
  readonly id = randomId();
  private readonly queue: { path: string; line: SearchLine }[] = [];
  /** A page waiting for `want` lines (or the end). */
  private waiter: { want: number; resolve: () => void } | undefined;
  private pages = 0;
  private readonly child: ChildProcess;
  private done = false;
  private capped = false;
  private error: CocalcError | undefined;
  private warning = "";
  private total = 0;
  private matches = 0;
  private readonly files = new Set<string>();
  private paused = false;
  private idle: NodeJS.Timeout | undefined;
  /** Files the resolver refuses (the sandbox, a denied folder) are left out. */
  private refused = new Set<string>();

  constructor(
    rg: string,
    private readonly dir: string,
    query: SearchQuery,
    context: number,
    private readonly resolver: PathResolver,
    private readonly onEnd: (id: string) => void,
  ) {
    this.child = runRg(rg, rgArgs(query, context), dir);
    const lines = new LineSplitter(MAX_RG_LINE_BYTES, (l) => this.take(l));
    this.child.stdout!.on("data", (b: Buffer) => lines.push(b));
    this.child.stderr!.on("data", (b: Buffer) => {
      if (this.warning.length < MAX_STDERR) this.warning += b.toString("utf8");
    });
    this.child.on("error", (err: NodeJS.ErrnoException) => {
      this.finish(
        err.code === "ENOENT"
          ? unavailable()
          : new CocalcError("ERR_FS_IO", `ripgrep could not be started: ${err.message}`),
      );
    });
    this.child.on("close", (code) => {
      if (code === 2 && this.total === 0 && !this.capped) {
        const message = this.warning.trim().slice(0, 1000) || "ripgrep failed";
        this.finish(
          /regex|glob/i.test(message)
            ? new CocalcError("ERR_SEARCH_PATTERN", message)
            : new CocalcError("ERR_FS_IO", message),
        );
      } else this.finish();
    });
    this.touch();
  }

  private touch(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), SEARCH_IDLE_MS);
    this.idle.unref();
  }

  private take(raw: string): void {
    if (this.done) return;
    let msg: {
      type: string;
      data: {
        path?: RgText;
        lines?: RgText;
        line_number?: number;
        submatches?: { start: number; end: number }[];
      };
    };
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (msg.type !== "match" && msg.type !== "context") return;
    const d = msg.data;
    if (!d.lines || typeof d.line_number !== "number") return;
    const rel = textOf(d.path).replace(/^\.\//, "");
    const path = joinPath(this.dir, rel);
    if (this.refused.has(path)) return;
    if (!this.files.has(path) && !this.resolver.allows(path)) {
      this.refused.add(path);
      return;
    }
    const isMatch = msg.type === "match";
    this.queue.push({
      path,
      line: searchLine(d.line_number, d.lines, d.submatches ?? [], isMatch),
    });
    this.total++;
    if (isMatch) {
      this.matches++;
      this.files.add(path);
    }
    if (this.total >= MAX_SEARCH_LINES) {
      this.capped = true;
      this.end();
      return;
    }
    if (!this.paused && this.queue.length >= QUEUED_PAGES * SEARCH_PAGE_LINES) {
      this.paused = true;
      this.child.stdout!.pause();
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    if (!w || (!this.done && this.queue.length < w.want)) return;
    this.waiter = undefined;
    w.resolve();
  }

  /** Resolves once `want` lines are queued, the search ended, or `ms` passed. */
  private async wait(want: number, ms: number): Promise<void> {
    if (this.done || this.queue.length >= want) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.waiter = { want, resolve };
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.waiter = undefined;
  }

  private finish(error?: CocalcError): void {
    if (this.done) return;
    this.done = true;
    this.error ??= error;
    this.wake();
  }

  /** Ends ripgrep; what was found stays to be read. */
  private end(): void {
    if (!this.done && this.child.exitCode === null) this.child.kill("SIGKILL");
    this.finish();
  }

  /** Ends the search and forgets it. */
  stop(): void {
    this.end();
    this.forget();
  }

  private forget(): void {
    clearTimeout(this.idle);
    this.onEnd(this.id);
  }

  /** The next lines: waits until there are some, or the search ended. */
  async next(): Promise<SearchPage> {
    this.touch();
    await this.wait(1, LONG_POLL_MS);
    // The first lines go at once; later pages gather a while, so that there are a few full
    // pages rather than one per handful of lines (each drawn by the page, on the cores that
    // ripgrep searches with).
    if (this.pages++ > 0) await this.wait(SEARCH_PAGE_LINES, GATHER_MS);
    if (this.error && this.queue.length === 0) {
      this.forget();
      throw this.error;
    }
    const taken = this.queue.splice(0, SEARCH_PAGE_LINES);
    if (this.paused && this.queue.length < SEARCH_PAGE_LINES) {
      this.paused = false;
      this.child.stdout!.resume();
    }
    const files: SearchFile[] = [];
    for (const { path, line } of taken) {
      const last = files.at(-1);
      if (last?.path === path) last.lines.push(line);
      else files.push({ path, lines: [line] });
    }
    const done = this.done && this.queue.length === 0;
    if (done) this.forget();
    return {
      id: this.id,
      files,
      done,
      capped: this.capped,
      matches: this.matches,
      filesMatched: this.files.size,
    };
  }
}

/** The searches of one fs service, and its quick open. */
export class FileSearches {
  private readonly searches = new Map<string, Search>();
  private readonly byClient = new Map<string, string>();
  private cachedFiles: { dir: string; at: number; paths: string[]; capped: boolean } | undefined;

  constructor(
    private readonly resolver: PathResolver,
    private readonly rg = "rg",
  ) {}

  private async directory(path: string): Promise<string> {
    const dir = await this.resolver.real(path);
    let isDir = false;
    try {
      isDir = (await stat(dir)).isDirectory();
    } catch {
      throw new CocalcError("ERR_FS_NOT_FOUND", `${this.resolver.display(dir)}: no such directory`);
    }
    if (!isDir)
      throw new CocalcError("ERR_FS_NOT_DIR", `${this.resolver.display(dir)} is not a directory`);
    return dir;
  }

  async search(r: FsRequest<"search">): Promise<FsResults["search"]> {
    const dir = await this.directory(r.path);
    const previous = this.byClient.get(r.client);
    if (previous) this.searches.get(previous)?.stop();
    while (this.searches.size >= MAX_SEARCHES) this.searches.values().next().value!.stop();
    const s = new Search(this.rg, dir, r.query, r.context, this.resolver, (id) => {
      this.searches.delete(id);
      if (this.byClient.get(r.client) === id) this.byClient.delete(r.client);
    });
    this.searches.set(s.id, s);
    this.byClient.set(r.client, s.id);
    return s.next();
  }

  async more(r: FsRequest<"search-more">): Promise<FsResults["search-more"]> {
    const s = this.searches.get(r.id);
    if (!s)
      throw new CocalcError("ERR_SEARCH_GONE", "this search has ended or expired: search again");
    return s.next();
  }

  stopSearch(r: FsRequest<"search-stop">): FsResults["search-stop"] {
    const s = this.searches.get(r.id);
    s?.stop();
    return { stopped: s !== undefined };
  }

  /** Every file name under `dir` (.gitignore respected), at most MAX_QUICK_OPEN_FILES. */
  private listFiles(dir: string): Promise<{ paths: string[]; capped: boolean }> {
    const c = this.cachedFiles;
    if (c && c.dir === dir && Date.now() - c.at < FILES_CACHE_MS) return Promise.resolve(c);
    return new Promise((resolve, reject) => {
      const child = runRg(this.rg, ["--files", "--no-config", "--no-require-git", "--", "."], dir);
      const paths: string[] = [];
      let capped = false;
      const lines = new LineSplitter(64 * 1024, (l) => {
        if (capped || l === "") return;
        const path = joinPath(dir, l.replace(/^\.\//, ""));
        if (!this.resolver.allows(path)) return;
        paths.push(path);
        if (paths.length >= MAX_QUICK_OPEN_FILES) {
          capped = true;
          child.kill("SIGKILL");
        }
      });
      child.stdout!.on("data", (b: Buffer) => lines.push(b));
      child.stderr!.resume();
      child.on("error", (err: NodeJS.ErrnoException) =>
        reject(err.code === "ENOENT" ? unavailable() : err),
      );
      child.on("close", () => {
        this.cachedFiles = { dir, at: Date.now(), paths, capped };
        resolve({ paths, capped });
      });
    });
  }

  async findFiles(r: FsRequest<"find-files">): Promise<FindFilesResult> {
    const dir = await this.directory(r.path);
    const { paths, capped } = await this.listFiles(dir);
    const limit = r.limit ?? QUICK_OPEN_RESULTS;
    const prefix = dir === "/" ? 1 : dir.length + 1;
    const best: { path: string; score: number }[] = [];
    for (const path of paths) {
      const score = fuzzyScore(path.slice(prefix), r.query);
      if (score === null) continue;
      if (best.length === limit && score <= best[limit - 1]!.score) continue;
      let i = best.length;
      while (i > 0 && best[i - 1]!.score < score) i--;
      best.splice(i, 0, { path, score });
      if (best.length > limit) best.pop();
    }
    return { paths: best.map((b) => b.path), scanned: paths.length, capped };
  }

  /** Ends every search (the service stops). */
  clear(): void {
    for (const s of [...this.searches.values()]) s.stop();
    this.cachedFiles = undefined;
  }
}

/**
 * Replace across files, one file per request: the file is read, its matching lines counted
 * against what the preview showed, replaced line by line (as ripgrep matched them) and written
 * whole through the file operations (an event, and the docs service takes it in).
 */
export async function replaceInFile(
  ops: FileOperations,
  r: FsRequest<"replace">,
): Promise<FsResults["replace"]> {
  let re: RegExp;
  try {
    re = searchRegExp(r.query);
  } catch (err) {
    throw new CocalcError(
      "ERR_SEARCH_PATTERN",
      `the pattern cannot be used to replace: ${(err as Error).message}`,
    );
  }
  const file = await ops.read({ op: "read", path: r.path });
  if (file.binary) throw new CocalcError("ERR_FS_NOT_FILE", `${file.path} is not a text file`);
  if (file.truncated)
    throw new CocalcError("ERR_FS_TOO_LARGE", `${file.path} is too large to replace in`);
  const out = replaceLines(file.content, re, r.replacement, r.query.regex);
  if (out.lines !== r.expect)
    throw new CocalcError(
      "ERR_SEARCH_CHANGED",
      `${file.path} has ${out.lines} matching lines, not ${r.expect} as in the preview: it changed, search again`,
    );
  if (out.count === 0) return { path: file.path, replaced: 0, size: file.size };
  const written = await ops.write({
    op: "write",
    path: file.path,
    content: out.text,
    encoding: "utf8",
    exclusive: false,
    atomic: true,
  });
  return { path: written.path, replaced: out.count, size: written.size };
}
