/**
 * Search in files, replace across files and quick open: fs requests (shared/files.ts) that
 * ripgrep answers in the service. A search is paged like a listing: `search` starts it and
 * answers with its first lines, `search-more` with the next ones as ripgrep finds them (the
 * page asks again at once, so results stream), `search-stop` ends it. The service holds at
 * most a couple of pages per search and stops ripgrep while nobody asks, so a huge result set
 * never fills memory; it ends a search at MAX_SEARCH_LINES lines and says so (`capped`).
 */
import { type Static, Type } from "@sinclair/typebox";
import { MAX_PATH_BYTES } from "./paths.js";

/** Lines (matches and their context) a search keeps in all before it stops and says so. */
export const MAX_SEARCH_LINES = 5000;
/** Lines in one answer. */
export const SEARCH_PAGE_LINES = 250;
/** A line's text is cut to this many characters around its first match. */
export const MAX_LINE_CHARS = 400;
/** Names quick open looks at (the rest are left out, and it says so). */
export const MAX_QUICK_OPEN_FILES = 200_000;
/** Names one quick-open answer lists. */
export const QUICK_OPEN_RESULTS = 50;
/** Lines of context before and after a match, at most. */
export const MAX_SEARCH_CONTEXT = 5;

const PathSchema = Type.String({ minLength: 1, maxLength: MAX_PATH_BYTES });
/** Patterns and globs go to ripgrep as single arguments (no shell), never with a NUL. */
const Text = (max: number) => Type.String({ maxLength: max, pattern: "^[^\\u0000]*$" });
const Globs = Type.Array(Text(1000), { maxItems: 50 });
const IdSchema = Type.String({ pattern: "^[A-Za-z0-9_-]{8,64}$" });
const strict = { additionalProperties: false } as const;

/** What to look for, where: the same for a search and for the replace it previews. */
export const SearchQuerySchema = Type.Object(
  {
    pattern: Type.Intersect([Text(1000), Type.String({ minLength: 1 })]),
    /** The pattern is a regular expression (else: literal text). */
    regex: Type.Boolean(),
    caseSensitive: Type.Boolean(),
    wholeWord: Type.Boolean(),
    /** Only files matching one of these globs (as in .gitignore: `*.ts`, `src/**`). */
    include: Globs,
    /** No file matching one of these. */
    exclude: Globs,
  },
  strict,
);
export type SearchQuery = Static<typeof SearchQuerySchema>;

/** A query for `pattern`: literal, any case, every file, unless `options` say otherwise. */
export function searchQuery(pattern: string, options: Partial<SearchQuery> = {}): SearchQuery {
  return {
    pattern,
    regex: false,
    caseSensitive: false,
    wholeWord: false,
    include: [],
    exclude: [],
    ...options,
  };
}

export const SearchRequestSchemas = {
  /** Starts a search under the directory `path` (files .gitignore ignores are left out). */
  search: Type.Object(
    {
      op: Type.Literal("search"),
      path: PathSchema,
      query: SearchQuerySchema,
      context: Type.Integer({ minimum: 0, maximum: MAX_SEARCH_CONTEXT }),
      /** The page asking: its next search ends this one. */
      client: Type.String({ minLength: 1, maxLength: 64 }),
    },
    strict,
  ),
  /**
   * The next lines of search `id`: waits until there are some or it ended, at most a few
   * seconds (then the answer has no lines and the page asks again).
   */
  "search-more": Type.Object({ op: Type.Literal("search-more"), id: IdSchema }, strict),
  /** Ends search `id`. */
  "search-stop": Type.Object({ op: Type.Literal("search-stop"), id: IdSchema }, strict),
  /**
   * Replaces every match of `query` in the file `path` with `replacement` (with `$1`, `$<name>`
   * for a regex's groups) and writes the file through the fs service (so an open document
   * takes it in as a change). `expect` is how many lines matched in the preview: when the file
   * has changed since and the count differs, nothing is written.
   */
  replace: Type.Object(
    {
      op: Type.Literal("replace"),
      path: PathSchema,
      query: SearchQuerySchema,
      replacement: Text(10_000),
      expect: Type.Integer({ minimum: 0 }),
    },
    strict,
  ),
  /** Quick open: the file names under `path` that best match `query` (fuzzy). */
  "find-files": Type.Object(
    {
      op: Type.Literal("find-files"),
      path: PathSchema,
      query: Text(500),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    },
    strict,
  ),
};

/** One line of a result: a match (with `ranges`) or context around one. */
export interface SearchLine {
  /** 1-based. */
  line: number;
  text: string;
  /** The matches in `text`: [start, end) in UTF-16 code units; absent for a context line. */
  ranges?: [number, number][];
  /** `text` was cut (a long line): it starts this many characters into the line. */
  from?: number;
}

/** A file's lines in one answer (a file's lines may continue in the next answer). */
export interface SearchFile {
  path: string;
  lines: SearchLine[];
}

export interface SearchPage {
  id: string;
  files: SearchFile[];
  /** Nothing more will come (all found, capped, failed or stopped). */
  done: boolean;
  /** The search stopped at MAX_SEARCH_LINES: there may be more. */
  capped: boolean;
  /** Matching lines and files so far. */
  matches: number;
  filesMatched: number;
}

export interface FindFilesResult {
  /** Absolute paths, best first. */
  paths: string[];
  /** How many names were looked at. */
  scanned: number;
  /** There were more than MAX_QUICK_OPEN_FILES names: some were not looked at. */
  capped: boolean;
}

export interface SearchResults {
  search: SearchPage;
  "search-more": SearchPage;
  "search-stop": { stopped: boolean };
  replace: { path: string; replaced: number; size: number };
  "find-files": FindFilesResult;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

/**
 * The query as a JavaScript RegExp (global, Unicode), for the replace and its preview. A regex
 * ripgrep reads differently from JavaScript shows up as a different match count (and the
 * replace is then refused); a regex JavaScript cannot read throws a SyntaxError.
 */
export function searchRegExp(q: SearchQuery): RegExp {
  let source = q.regex ? q.pattern : escapeRegExp(q.pattern);
  if (q.wholeWord) source = `(?<![\\p{L}\\p{N}_])(?:${source})(?![\\p{L}\\p{N}_])`;
  return new RegExp(source, q.caseSensitive ? "gu" : "giu");
}

/** `text` with every match of `re` (from searchRegExp) replaced, and how many there were. */
export function replaceAll(
  text: string,
  re: RegExp,
  replacement: string,
  regex: boolean,
): { text: string; count: number } {
  let count = 0;
  // A literal replacement keeps its `$`s; a regex one may name groups.
  const out = text.replace(re, (...args) => {
    count++;
    if (!regex) return replacement;
    const groups = args.at(-1);
    const hasGroups = typeof groups === "object" && groups !== null;
    const captures = args.slice(1, hasGroups ? -3 : -2) as (string | undefined)[];
    return replacement.replace(/\$(\$|&|\d{1,2}|<([^>]*)>)/g, (m, what: string, name?: string) => {
      if (what === "$") return "$";
      if (what === "&") return args[0] as string;
      if (name !== undefined)
        return hasGroups ? ((groups as Record<string, string>)[name] ?? "") : m;
      const i = Number(what);
      return i >= 1 && i <= captures.length ? (captures[i - 1] ?? "") : m;
    });
  });
  return { text: out, count };
}

/**
 * `text` with every match of `re` replaced line by line (a match never spans lines, as in
 * ripgrep), how many matches there were and on how many lines.
 */
export function replaceLines(
  text: string,
  re: RegExp,
  replacement: string,
  regex: boolean,
): { text: string; count: number; lines: number } {
  let count = 0;
  let lines = 0;
  const out = text.split("\n").map((line) => {
    const r = replaceAll(line, re, replacement, regex);
    if (r.count > 0) lines++;
    count += r.count;
    return r.text;
  });
  return { text: out.join("\n"), count, lines };
}

/**
 * Fuzzy score of `path` for `query` (higher is better; null: no match): every query character
 * must appear in order; runs, starts of words and matches in the file's own name count more.
 */
export function fuzzyScore(path: string, query: string): number | null {
  if (query === "") return 0;
  const p = path.toLowerCase();
  const q = query.toLowerCase().replace(/\s+/g, "");
  const nameStart = p.lastIndexOf("/") + 1;
  // Matched inside the file's own name if it can be, else anywhere in the path.
  const score = scoreFrom(p, q, nameStart) ?? scoreFrom(p, q, 0);
  if (score === null) return null;
  // An exact name wins; shorter paths first among equals.
  return score + (p.slice(nameStart) === q ? 20 : 0) - p.length / 100;
}

function scoreFrom(p: string, q: string, start: number): number | null {
  const nameStart = p.lastIndexOf("/") + 1;
  let score = 0;
  let at = start - 1;
  let run = 0;
  for (const ch of q) {
    const i = p.indexOf(ch, at + 1);
    if (i < 0) return null;
    run = i === at + 1 ? run + 1 : 0;
    score += 1 + run * 2;
    const prev = i === 0 ? "/" : p[i - 1]!;
    if (/[/_\-. ]/.test(prev)) score += 3;
    if (i >= nameStart) score += 4;
    at = i;
  }
  return score;
}
