/**
 * POSIX path arithmetic and the URL scheme of files, without touching a file system (the
 * resolver in services/runtime/paths.ts does that). Used by the web app and the services alike.
 */
import { CocalcError } from "./errors.js";

/** Longest file name (one path component) in UTF-8 bytes, as on Linux and macOS. */
export const MAX_NAME_BYTES = 255;
/** Longest path in UTF-8 bytes (PATH_MAX on Linux). */
export const MAX_PATH_BYTES = 4096;

const encoder = new TextEncoder();

function utf8Length(s: string): number {
  return encoder.encode(s).length;
}

/** True for `/…`. */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/**
 * Lexical normalisation of an absolute path: collapses `//`, `.` and `..` (`/..` is `/`) and
 * drops a trailing slash. Symlinks are not looked at.
 */
export function normalize(path: string): string {
  if (!isAbsolute(path))
    throw new CocalcError("ERR_FS_PATH", `${JSON.stringify(path)} is not absolute`);
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

/** Joins an absolute path and relative parts, normalised. */
export function joinPath(base: string, ...parts: string[]): string {
  return normalize([base, ...parts].join("/"));
}

/** The parent of an absolute path; the parent of `/` is `/`. */
export function parentOf(path: string): string {
  const p = normalize(path);
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

/** The last component of an absolute path; `/` has the name "". */
export function nameOf(path: string): string {
  const p = normalize(path);
  return p.slice(p.lastIndexOf("/") + 1);
}

/** The lowercased extension of a path's name (`/a/B.PNG` → "png"); "" for none or a dotfile. */
export function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot <= 0 ? "" : name.slice(dot + 1).toLowerCase();
}

/** The components of an absolute path: `/a/b` → ["a", "b"]. */
export function componentsOf(path: string): string[] {
  const p = normalize(path);
  return p === "/" ? [] : p.slice(1).split("/");
}

/** True when `path` is `dir` or inside it (both normalised absolute paths). */
export function isInside(path: string, dir: string): boolean {
  if (dir === "/") return true;
  return path === dir || path.startsWith(`${dir}/`);
}

/** Throws ERR_FS_PATH unless `path` is a path we accept at all (no NUL, not too long). */
export function checkPathString(path: string): string {
  if (typeof path !== "string" || path.length === 0) {
    throw new CocalcError("ERR_FS_PATH", "the path is empty");
  }
  if (path.includes("\0")) throw new CocalcError("ERR_FS_PATH", "the path contains a NUL byte");
  if (utf8Length(path) > MAX_PATH_BYTES) {
    throw new CocalcError("ERR_FS_PATH", `the path is longer than ${MAX_PATH_BYTES} bytes`);
  }
  return path;
}

/**
 * Throws ERR_FS_NAME unless `name` can be one entry of a directory: not empty, not `.` or
 * `..`, no `/`, no NUL, at most 255 bytes. Used for new files, renames and uploaded names.
 */
export function checkName(name: string): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new CocalcError("ERR_FS_NAME", "the name is empty");
  }
  if (name === "." || name === "..") {
    throw new CocalcError("ERR_FS_NAME", `${JSON.stringify(name)} is not a file name`);
  }
  if (name.includes("/")) {
    throw new CocalcError("ERR_FS_NAME", `${JSON.stringify(name)} contains '/'`);
  }
  if (name.includes("\0")) throw new CocalcError("ERR_FS_NAME", "the name contains a NUL byte");
  if (utf8Length(name) > MAX_NAME_BYTES) {
    throw new CocalcError("ERR_FS_NAME", `the name is longer than ${MAX_NAME_BYTES} bytes`);
  }
  return name;
}

/**
 * The first character of `name` that a new name may not hold: C0 controls (newline, tab,
 * carriage return, escape…), DEL, C1 controls and the Unicode line and paragraph separators.
 * Such names print as something else ("a b" for "a\nb") and break line-based tools.
 */
function controlIn(name: string): string | undefined {
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return ch;
  }
  return undefined;
}

/** `U+000A (a newline)`: how a refused character is named in a message. */
function describeChar(ch: string): string {
  const hex = ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
  const names: Record<string, string> = {
    "\n": "a newline",
    "\r": "a carriage return",
    "\t": "a tab",
  };
  return `U+${hex}${names[ch] ? ` (${names[ch]})` : ""}`;
}

/**
 * Throws ERR_FS_NAME unless `name` may be given to something new (a created file or folder,
 * a rename, the target of a move or copy, an upload): checkName, and besides no control
 * character and not only dots. Existing entries with such names can still be opened,
 * renamed and deleted (checkName alone applies to them).
 */
export function checkNewName(name: string): string {
  checkName(name);
  const ch = controlIn(name);
  if (ch !== undefined) {
    throw new CocalcError(
      "ERR_FS_NAME",
      `${JSON.stringify(name)} contains the control character ${describeChar(ch)}; a file name may not hold newlines or other control characters`,
    );
  }
  if (/^\.+$/.test(name)) {
    throw new CocalcError("ERR_FS_NAME", `${JSON.stringify(name)} is only dots, not a file name`);
  }
  return name;
}

/**
 * Checks a relative path made of new names (an uploaded file inside a dropped folder,
 * `photos/2024/a.jpg`): every component must pass checkNewName, so the result stays under
 * the directory it is joined to. Returns the components.
 */
export function checkRelativePath(rel: string): string[] {
  checkPathString(rel);
  if (rel.startsWith("/")) {
    throw new CocalcError("ERR_FS_NAME", `${JSON.stringify(rel)} is absolute, not a relative name`);
  }
  return rel.split("/").map(checkNewName);
}

/** `~` for the home directory itself, `~/…` inside it, else the absolute path. */
export function displayPath(abs: string, home: string): string {
  if (abs === home) return "~";
  if (isInside(abs, home)) return `~/${abs.slice(home.length + (home === "/" ? 0 : 1))}`;
  return abs;
}

/**
 * What a person typed, as an absolute path: `~` and `~/x` are in the home directory,
 * `/x` is absolute, anything else is relative to `cwd` (the home directory by default).
 */
export function expandPath(input: string, home: string, cwd = home): string {
  checkPathString(input);
  if (input === "~") return home;
  if (input.startsWith("~/")) return joinPath(home, input.slice(2));
  if (isAbsolute(input)) return normalize(input);
  return joinPath(cwd, input);
}

/** The two URL prefixes of files: home-relative and absolute. */
export const FileUrlPrefixes = { home: "/files/", root: "/fs/" } as const;

/**
 * The one canonical URL path of a file or directory: `/files/<path relative to home>` for
 * anything inside the home directory (`/files/` is home itself), `/fs/<absolute path without
 * the leading slash>` for everything else (`/fs/` is `/`). Each component is percent-encoded.
 */
export function fileUrl(abs: string, home: string): string {
  const p = normalize(abs);
  if (isInside(p, home)) {
    const rel = p === home ? "" : p.slice(home === "/" ? 1 : home.length + 1);
    return `${FileUrlPrefixes.home}${encodeComponents(rel)}`;
  }
  return `${FileUrlPrefixes.root}${encodeComponents(p.slice(1))}`;
}

function encodeComponents(rel: string): string {
  return rel === "" ? "" : rel.split("/").map(encodeURIComponent).join("/");
}

/**
 * The absolute path a URL path names, or undefined when it is not a file URL. Both forms are
 * accepted for any path (`/fs/home/me/x` names the same file as `/files/x`); callers
 * redirect to fileUrl() so the address bar shows the canonical form.
 */
export function pathOfUrl(urlPath: string, home: string): string | undefined {
  let base: string;
  let rest: string;
  if (urlPath === "/files" || urlPath.startsWith(FileUrlPrefixes.home)) {
    base = home;
    rest = urlPath.slice("/files".length);
  } else if (urlPath === "/fs" || urlPath.startsWith(FileUrlPrefixes.root)) {
    base = "/";
    rest = urlPath.slice("/fs".length);
  } else {
    return undefined;
  }
  const parts: string[] = [];
  for (const raw of rest.split("/")) {
    if (raw === "") continue;
    let part: string;
    try {
      part = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    // A decoded component is one name: an encoded '/' or '..' does not climb anywhere.
    if (part === "." || part === ".." || part.includes("/") || part.includes("\0"))
      return undefined;
    parts.push(part);
  }
  return parts.length === 0 ? base : joinPath(base, ...parts);
}
