/**
 * The one path resolver every part uses for file access (fs service, gateway uploads and
 * downloads, later agents and launchpad). It turns what a person or a program gave (`~/x`,
 * `/etc/hosts`, `notes.md`) into canonical absolute paths, shows them home-relative (`~/…`),
 * and, in sandbox mode, keeps every access inside one root directory:
 *
 * - lexically: `..` and percent-encoded `..` / `/` are refused, absolute paths must lie inside;
 * - through symlinks: the real path (realpath) must lie inside;
 * - against swaps: operations go through an open descriptor of the checked directory
 *   (`/proc/self/fd/N/name`, Linux's openat) whose real location is checked again after it is
 *   opened, and the last component is opened with O_NOFOLLOW. A symlink swapped in between the
 *   check and the open therefore cannot redirect the access.
 *
 * Everything refused in sandbox mode is ERR_FS_OUTSIDE_SANDBOX.
 */
import { constants, existsSync, type Stats } from "node:fs";
import { type FileHandle, lstat, open, readlink, realpath, stat } from "node:fs/promises";
import { CocalcError } from "../../shared/errors.js";
import {
  checkName,
  checkPathString,
  displayPath,
  expandPath,
  isAbsolute,
  isInside,
  joinPath,
  nameOf,
  normalize,
  parentOf,
} from "../../shared/paths.js";

const FD_DIR = "/proc/self/fd";
/** Linux resolves at most 40 symlinks per lookup; so do we when following by hand. */
const MAX_HOPS = 40;

export interface PathResolverOptions {
  /** The home directory: `~`, `~/…` and relative paths start here. */
  home: string;
  /** Sandbox root: when set, nothing outside it can be reached. */
  sandbox?: string;
  /**
   * A refusal says that a path leads out of the sandbox, not where to (a container
   * workspace's: where a symlink really leads on the host is not for its users to see).
   */
  hideOutside?: boolean;
  /**
   * Canonical paths that cannot be reached, whatever else allows it (a confined agent and
   * the product's secrets): a path that is one or lies inside one gets `refuse`'s error,
   * checked on the real path like the sandbox root (symlinks, and after the open).
   */
  deny?: {
    paths: readonly string[];
    refuse: (asked: string, real: string, denied: string) => Error;
  };
  /**
   * Test seam: runs after a path was checked and before it is opened, so a test can swap a
   * symlink in exactly there.
   */
  beforeOpen?: (checkedPath: string) => Promise<void> | void;
}

/** A directory held open: operations on its entries cannot be redirected by later swaps. */
export interface PinnedDir {
  /** The canonical path of the directory. */
  readonly path: string;
  /** A path that names the directory itself (its descriptor where possible). */
  readonly dirPath: string;
  /** A path naming entry `name` of the directory, through its descriptor where possible. */
  at(name: string): string;
  close(): Promise<void>;
}

/** Maps an errno from node:fs to a clear error with a stable code. */
export function fsError(err: unknown, display: string, verb = "access"): Error {
  if (err instanceof CocalcError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const what = `cannot ${verb} ${display}`;
  switch (code) {
    case "ENOENT":
      return new CocalcError("ERR_FS_NOT_FOUND", `${what}: no such file or directory`);
    case "EACCES":
    case "EPERM":
      return new CocalcError("ERR_FS_PERMISSION", `${what}: permission denied`);
    case "EEXIST":
      return new CocalcError("ERR_FS_EXISTS", `${what}: it already exists`);
    case "ENOTDIR":
      return new CocalcError("ERR_FS_NOT_DIR", `${what}: not a directory`);
    case "EISDIR":
      return new CocalcError("ERR_FS_IS_DIR", `${what}: it is a directory`);
    case "ENOTEMPTY":
      return new CocalcError("ERR_FS_NOT_EMPTY", `${what}: the directory is not empty`);
    case "ELOOP":
      return new CocalcError("ERR_FS_SYMLINK_LOOP", `${what}: too many levels of symbolic links`);
    case "ENOSPC":
    case "EDQUOT":
      return new CocalcError("ERR_FS_NO_SPACE", `${what}: no space left on the disk`);
    case "EROFS":
      return new CocalcError("ERR_FS_READ_ONLY", `${what}: the file system is read-only`);
    case "ENAMETOOLONG":
      return new CocalcError("ERR_FS_NAME", `${what}: the name is too long`);
    case "EINVAL":
      return new CocalcError("ERR_FS_INVALID_MOVE", `${what}: invalid argument`);
    case "EFBIG":
      return new CocalcError("ERR_FS_TOO_LARGE", `${what}: the file is too large`);
    case undefined:
      return err instanceof Error ? err : new Error(String(err));
    default:
      return new CocalcError("ERR_FS_IO", `${what}: ${code}`);
  }
}

/** Percent-decoding applied repeatedly (double encoding), stopping at the first invalid form. */
function decodedForms(part: string): string[] {
  const forms = [part];
  let cur = part;
  for (let i = 0; i < 3 && cur.includes("%"); i++) {
    try {
      cur = decodeURIComponent(cur);
    } catch {
      break;
    }
    forms.push(cur);
  }
  return forms;
}

function outside(display: string, why: string): CocalcError {
  return new CocalcError("ERR_FS_OUTSIDE_SANDBOX", `${display} is outside the sandbox: ${why}`);
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

export class PathResolver {
  /** The canonical home directory. */
  readonly home: string;
  /** The canonical sandbox root, or null (plus: the whole file system). */
  readonly sandbox: string | null;
  private readonly beforeOpen: PathResolverOptions["beforeOpen"];
  private readonly deny: PathResolverOptions["deny"];
  private readonly hideOutside: boolean;
  /** Descriptor paths pin directories; without /proc we check after the fact instead. */
  private readonly pinByFd: boolean;

  private constructor(home: string, sandbox: string | null, opts: PathResolverOptions) {
    this.home = home;
    this.sandbox = sandbox;
    this.beforeOpen = opts.beforeOpen;
    this.deny = opts.deny && opts.deny.paths.length > 0 ? opts.deny : undefined;
    this.hideOutside = opts.hideOutside ?? false;
    this.pinByFd = (sandbox !== null || this.deny !== undefined) && existsSync(FD_DIR);
  }

  /** Whether anything limits what can be reached (a sandbox root or denied paths). */
  private get confined(): boolean {
    return this.sandbox !== null || this.deny !== undefined;
  }

  /** Canonicalises home and the sandbox root (both must exist). */
  static async create(opts: PathResolverOptions): Promise<PathResolver> {
    const sandbox = opts.sandbox === undefined ? null : await realpath(opts.sandbox);
    let home = await realpath(opts.home).catch(() => normalize(opts.home));
    if (sandbox !== null && !isInside(home, sandbox)) home = sandbox;
    return new PathResolver(home, sandbox, opts);
  }

  /** `~/…` inside home, else the absolute path. */
  display(abs: string): string {
    return displayPath(abs, this.home);
  }

  /**
   * Lexical resolution: the absolute, normalised path `input` names. In sandbox mode `..`,
   * encoded traversal and absolute paths outside the root are refused.
   */
  absolute(input: string): string {
    checkPathString(input);
    if (this.sandbox !== null) {
      const body = input === "~" ? "" : input.startsWith("~/") ? input.slice(2) : input;
      for (const part of body.split("/")) {
        for (const form of decodedForms(part)) {
          if (form === ".." || (form !== part && (form === "." || /[/\\]/.test(form)))) {
            throw outside(
              JSON.stringify(input),
              form === part ? "'..' is not allowed" : "an encoded '..' or '/' is not allowed",
            );
          }
          if (form.includes("\0"))
            throw new CocalcError("ERR_FS_PATH", "the path contains a NUL byte");
        }
      }
    }
    const abs = expandPath(input, this.home);
    if (this.sandbox !== null && !isInside(abs, this.sandbox)) {
      throw outside(abs, `it is not under ${this.sandbox}`);
    }
    return abs;
  }

  private contain(real: string, asked: string): string {
    if (this.sandbox !== null && !isInside(real, this.sandbox)) {
      throw outside(
        this.display(asked),
        this.hideOutside ? "a symbolic link leads out of it" : `it leads to ${real}`,
      );
    }
    const denied = this.deny?.paths.find((d) => isInside(real, d));
    if (denied !== undefined) throw this.deny!.refuse(asked, real, denied);
    return real;
  }

  /** Whether a canonical path (no symlink in it) may be reached: inside the sandbox, not denied. */
  allows(real: string): boolean {
    if (this.sandbox !== null && !isInside(real, this.sandbox)) return false;
    return !this.deny?.paths.some((d) => isInside(real, d));
  }

  /**
   * The canonical path, every symlink followed. A path that does not exist (yet) resolves
   * through its deepest existing ancestor, following a dangling symlink at the end too, so
   * what gets created is known and checked before it is created.
   */
  async real(input: string): Promise<string> {
    const abs = this.absolute(input);
    return this.contain(await this.realOf(abs, 0), abs);
  }

  private async realOf(abs: string, hops: number): Promise<string> {
    if (hops > MAX_HOPS) {
      throw new CocalcError("ERR_FS_SYMLINK_LOOP", `${this.display(abs)}: too many symbolic links`);
    }
    try {
      return await realpath(abs);
    } catch (err) {
      if (!isMissing(err)) throw fsError(err, this.display(abs), "resolve");
    }
    if (abs === "/") return "/";
    const parent = this.contain(await this.realOf(parentOf(abs), hops), abs);
    const candidate = joinPath(parent, nameOf(abs));
    let link: string | undefined;
    try {
      const st = await lstat(candidate);
      if (st.isSymbolicLink()) link = await readlink(candidate);
    } catch (err) {
      if (!isMissing(err)) throw fsError(err, this.display(abs), "resolve");
    }
    if (link === undefined) return candidate;
    // A dangling symlink: what it would create is its target.
    const target = isAbsolute(link) ? normalize(link) : joinPath(parent, link);
    return this.realOf(target, hops + 1);
  }

  /**
   * The path of the entry itself, its last component not followed (for lstat, rename,
   * delete, readlink): the canonical parent plus the name.
   */
  async entry(input: string): Promise<string> {
    const abs = this.absolute(input);
    if (abs === "/") return "/";
    const parent = this.contain(await this.realOf(parentOf(abs), 0), abs);
    return this.contain(joinPath(parent, nameOf(abs)), abs);
  }

  /** The canonical path of a directory that must exist, as a pinned directory. */
  async pinDir(input: string): Promise<PinnedDir> {
    return this.pinReal(await this.real(input));
  }

  /** The canonical parent of `input` pinned, and the name of the entry in it (not followed). */
  async pinParent(input: string): Promise<{ dir: PinnedDir; name: string }> {
    const path = await this.entry(input);
    if (path === "/") throw new CocalcError("ERR_FS_INVALID_MOVE", "/ has no parent directory");
    const dir = await this.pinReal(parentOf(path));
    return { dir, name: nameOf(path) };
  }

  /** Pins a directory given by canonical path (already checked). */
  async pinReal(real: string): Promise<PinnedDir> {
    if (!this.pinByFd) {
      if (this.confined) {
        await this.beforeOpen?.(real);
        // No descriptor paths here: check again right before use, which narrows the window.
        this.contain(await realpath(real).catch((e) => Promise.reject(fsError(e, real))), real);
      }
      let st: Stats;
      try {
        st = await stat(real);
      } catch (err) {
        throw fsError(err, this.display(real), "open");
      }
      if (!st.isDirectory()) throw fsError({ code: "ENOTDIR" }, this.display(real), "open");
      return {
        path: real,
        dirPath: real,
        at: (name) => (real === "/" ? `/${checkName(name)}` : `${real}/${checkName(name)}`),
        close: async () => undefined,
      };
    }
    await this.beforeOpen?.(real);
    let handle: FileHandle;
    try {
      handle = await open(real, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (err) {
      throw fsError(err, this.display(real), "open");
    }
    const fdPath = `${FD_DIR}/${handle.fd}`;
    let actual: string;
    try {
      actual = (await readlink(fdPath)).replace(/ \(deleted\)$/, "");
      this.contain(actual, real);
    } catch (err) {
      await handle.close();
      throw err instanceof CocalcError ? err : fsError(err, this.display(real), "open");
    }
    let closed = false;
    return {
      path: actual,
      dirPath: fdPath,
      at: (name) => {
        if (closed) throw new Error(`pinned directory ${actual} used after close`);
        return `${fdPath}/${checkName(name)}`;
      },
      close: async () => {
        if (closed) return;
        closed = true;
        await handle.close();
      },
    };
  }

  /** Runs `fn` with a pinned directory and closes it afterwards. */
  async withDir<T>(input: string, fn: (dir: PinnedDir) => Promise<T>): Promise<T> {
    const dir = await this.pinDir(input);
    try {
      return await fn(dir);
    } finally {
      await dir.close();
    }
  }

  /**
   * Opens a file: symlinks are followed to the real file first (checked), then it is opened
   * through its pinned directory with O_NOFOLLOW, and its real location is checked again.
   * `flags` are open(2) flags (O_CREAT etc. allowed).
   */
  async openFile(
    input: string,
    flags: number,
    mode = 0o666,
  ): Promise<{ handle: FileHandle; path: string }> {
    const real = await this.real(input);
    if (real === "/") throw new CocalcError("ERR_FS_IS_DIR", "/ is a directory");
    const dir = await this.pinReal(parentOf(real));
    try {
      let handle: FileHandle;
      try {
        handle = await open(dir.at(nameOf(real)), flags | constants.O_NOFOLLOW, mode);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ELOOP" && this.sandbox !== null) {
          // The last component became a symlink after it was checked.
          throw outside(this.display(real), "it was replaced by a symbolic link");
        }
        throw fsError(err, this.display(real), "open");
      }
      if (this.pinByFd) {
        const actual = (await readlink(`${FD_DIR}/${handle.fd}`)).replace(/ \(deleted\)$/, "");
        try {
          this.contain(actual, real);
        } catch (err) {
          await handle.close();
          throw err;
        }
      }
      return { handle, path: real };
    } finally {
      await dir.close();
    }
  }
}

/**
 * Opens entry `name` of a pinned directory as a pinned directory itself, without following
 * a symlink there (O_NOFOLLOW), so a walk down a tree cannot be led elsewhere.
 */
export async function pinChild(parent: PinnedDir, name: string): Promise<PinnedDir> {
  const path = parent.path === "/" ? `/${checkName(name)}` : `${parent.path}/${checkName(name)}`;
  if (!parent.dirPath.startsWith(`${FD_DIR}/`)) {
    return {
      path,
      dirPath: path,
      at: (n) => `${path}/${checkName(n)}`,
      close: async () => undefined,
    };
  }
  let handle: FileHandle;
  try {
    handle = await open(
      parent.at(name),
      constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
    );
  } catch (err) {
    throw fsError(err, path, "open");
  }
  const fdPath = `${FD_DIR}/${handle.fd}`;
  let closed = false;
  return {
    path,
    dirPath: fdPath,
    at: (n) => {
      if (closed) throw new Error(`pinned directory ${path} used after close`);
      return `${fdPath}/${checkName(n)}`;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
