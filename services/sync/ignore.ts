/**
 * Ignore patterns with .gitignore semantics, and the matcher of a pair: every .gitignore in
 * the tree below its folder, then the pair's own patterns. Both sides' scans and the plan use it.
 */
import { CocalcError } from "../../shared/errors.js";

/** Where in-flight transfers are written before they are renamed into place; never synced. */
export const SYNC_TEMP_DIR = ".cocalc-sync.tmp";

/** One compiled ignore rule. */
export interface IgnoreRule {
  /** The pattern as written (for messages). */
  source: string;
  negate: boolean;
  dirOnly: boolean;
  /** The directory (relative to the root, "" for the root) whose .gitignore holds the rule. */
  base: string;
  re: RegExp;
}

function ignoreError(source: string, line: number, why: string): CocalcError {
  return new CocalcError(
    "ERR_SYNC_IGNORE",
    `ignore pattern ${JSON.stringify(source)}${line > 0 ? ` (line ${line})` : ""}: ${why}`,
    { pattern: source, line },
  );
}

const SPECIAL = /[.+^${}()|\\/\]]/;

/** Translates a pattern body (no leading or trailing `/`) to a regular expression source. */
function translate(body: string, source: string, line: number): string {
  let out = "";
  let i = 0;
  while (i < body.length) {
    const c = body[i]!;
    if (c === "*") {
      if (body[i + 1] === "*") {
        const atStart = i === 0 || body[i - 1] === "/";
        let j = i;
        while (body[j] === "*") j++;
        const atEnd = j === body.length || body[j] === "/";
        if (atStart && atEnd) {
          if (j === body.length) {
            out += ".*";
            i = j;
          } else {
            out += "(?:.*/)?";
            i = j + 1;
          }
          continue;
        }
        out += "[^/]*";
        i = j;
        continue;
      }
      out += "[^/]*";
      i++;
    } else if (c === "?") {
      out += "[^/]";
      i++;
    } else if (c === "[") {
      let j = i + 1;
      let cls = "";
      if (body[j] === "!" || body[j] === "^") {
        cls += "^";
        j++;
      }
      if (body[j] === "]") {
        cls += "\\]";
        j++;
      }
      while (j < body.length && body[j] !== "]") {
        const d = body[j]!;
        if (d === "\\") {
          if (j + 1 >= body.length) throw ignoreError(source, line, "ends with a lone backslash");
          const e = body[j + 1]!;
          cls += /[\]\\^-]/.test(e) ? `\\${e}` : e;
          j += 2;
          continue;
        }
        cls += d === "/" ? "" : /[\]\\^]/.test(d) ? `\\${d}` : d;
        j++;
      }
      if (j >= body.length) throw ignoreError(source, line, "'[' has no closing ']'");
      try {
        new RegExp(`[${cls}]`, "u");
      } catch {
        throw ignoreError(source, line, `bad character class [${body.slice(i + 1, j)}]`);
      }
      out += `[${cls}]`;
      i = j + 1;
    } else if (c === "\\") {
      if (i + 1 >= body.length) throw ignoreError(source, line, "ends with a lone backslash");
      const d = body[i + 1]!;
      out += SPECIAL.test(d) || /[*?[\]]/.test(d) ? `\\${d}` : d;
      i += 2;
    } else {
      out += SPECIAL.test(c) ? `\\${c}` : c;
      i++;
    }
  }
  return out;
}

/**
 * Parses ignore patterns with .gitignore semantics; `base` is the directory (relative to the
 * sync root) the patterns apply under. Throws ERR_SYNC_IGNORE naming the line that does not parse.
 */
export function parseIgnore(text: string, base = ""): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    let raw = lines[n]!;
    if (raw.includes("\0")) throw ignoreError(raw, n + 1, "contains a NUL byte");
    // Trailing spaces do not count unless escaped with a backslash.
    raw = raw.replace(/(?<!\\)\s+$/u, "");
    if (raw === "" || raw.startsWith("#")) continue;
    let p = raw;
    let negate = false;
    if (p.startsWith("!")) {
      negate = true;
      p = p.slice(1);
      if (p === "") throw ignoreError(raw, n + 1, "'!' needs a pattern after it");
    } else if (p.startsWith("\\!") || p.startsWith("\\#")) {
      p = p.slice(1);
    }
    let dirOnly = false;
    if (p.endsWith("/") && !p.endsWith("\\/")) {
      dirOnly = true;
      p = p.replace(/\/+$/, "");
      if (p === "") throw ignoreError(raw, n + 1, "'/' alone matches nothing");
    }
    const anchored = p.includes("/");
    if (p.startsWith("/")) p = p.slice(1);
    if (p === "") throw ignoreError(raw, n + 1, "the pattern is empty");
    const body = translate(p, raw, n + 1);
    const re = new RegExp(`^${anchored ? "" : "(?:.*/)?"}${body}$`, "u");
    rules.push({ source: raw, negate, dirOnly, base, re });
  }
  return rules;
}

/** Tells whether a path (relative to the sync root, `/`-separated) is ignored. */
export class IgnoreMatcher {
  private readonly dirCache = new Map<string, boolean>();

  constructor(readonly rules: readonly IgnoreRule[]) {}

  /** The rules of this matcher followed by more (later rules win). */
  with(more: readonly IgnoreRule[]): IgnoreMatcher {
    return more.length === 0 ? this : new IgnoreMatcher([...this.rules, ...more]);
  }

  /** True when the path itself matches (last matching rule wins), ignoring its parents. */
  matchesSelf(path: string, isDir: boolean): boolean {
    let ignored = false;
    for (const r of this.rules) {
      if (r.dirOnly && !isDir) continue;
      let rel = path;
      if (r.base !== "") {
        if (!path.startsWith(`${r.base}/`)) continue;
        rel = path.slice(r.base.length + 1);
      }
      if (r.re.test(rel)) ignored = !r.negate;
    }
    return ignored;
  }

  /** True when the path or a folder above it is ignored (git cannot bring back a file of an ignored folder). */
  ignored(path: string, isDir: boolean): boolean {
    if (path === SYNC_TEMP_DIR || path.startsWith(`${SYNC_TEMP_DIR}/`)) return true;
    const slash = path.lastIndexOf("/");
    if (slash > 0 && this.dirIgnored(path.slice(0, slash))) return true;
    return this.matchesSelf(path, isDir);
  }

  private dirIgnored(dir: string): boolean {
    const cached = this.dirCache.get(dir);
    if (cached !== undefined) return cached;
    const slash = dir.lastIndexOf("/");
    const result =
      (slash > 0 && this.dirIgnored(dir.slice(0, slash))) ||
      dir === SYNC_TEMP_DIR ||
      this.matchesSelf(dir, true);
    this.dirCache.set(dir, result);
    return result;
  }
}

/** The matcher for a pair: every .gitignore (shallow ones first), then the pair's own patterns. */
export function pairMatcher(
  patterns: string,
  gitignores: ReadonlyMap<string, string> | Iterable<[string, string]>,
): IgnoreMatcher {
  const files = [...gitignores].sort(
    (a, b) => a[0].split("/").length - b[0].split("/").length || a[0].localeCompare(b[0]),
  );
  const rules: IgnoreRule[] = [];
  for (const [path, text] of files) {
    const slash = path.lastIndexOf("/");
    try {
      rules.push(...parseIgnore(text, slash < 0 ? "" : path.slice(0, slash)));
    } catch {
      // A broken .gitignore in the tree must not stop sync; git skips what it cannot read too.
    }
  }
  rules.push(...parseIgnore(patterns));
  return new IgnoreMatcher(rules);
}
