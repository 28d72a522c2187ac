/**
 * What each fs request does on disk. Every path goes through the PathResolver; every
 * mutation reports the events it caused through `emit` (the service publishes them).
 */
import { constants } from "node:fs";
import { lstat, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { randomId } from "../../shared/base64url.js";
import type { Uncommitted } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type EntryType,
  type FileEntry,
  type FsEvent,
  type FsRequest,
  type FsResults,
  MAX_READ_BYTES,
  MAX_WRITE_BYTES,
  nextFreeName,
  type StatResult,
  UPLOAD_TEMP_PREFIX,
} from "../../shared/files.js";
import {
  checkName,
  checkNewName,
  isInside,
  joinPath,
  nameOf,
  parentOf,
} from "../../shared/paths.js";
import { fsError, type PathResolver, type PinnedDir } from "../runtime/paths.js";
import { describeEntry, Listings } from "./listing.js";
import { FileSearches } from "./search.js";
import { copyEntry, type EntryKind, kindAt, removeEntry } from "./tree.js";
import type { DirectoryWatches } from "./watches.js";

export type Emit = (event: Uncommitted<FsEvent>) => Promise<void>;

function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return false;
      throw err;
    },
  );
}

/** Up to 3 bytes of an incomplete UTF-8 sequence at the end of a cut buffer. */
function completeUtf8(bytes: Buffer): Buffer {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? bytes.subarray(0, bytes.length - back) : bytes;
  }
  return bytes;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function notAFile(display: string, verb = "read"): CocalcError {
  return new CocalcError(
    "ERR_FS_NOT_FILE",
    `cannot ${verb} ${display}: it is not a regular file (a pipe, socket or device)`,
  );
}

export class FileOperations {
  readonly listings: Listings;
  readonly searches: FileSearches;

  constructor(
    readonly resolver: PathResolver,
    private readonly watches: DirectoryWatches,
    private readonly emit: Emit,
  ) {
    this.listings = new Listings(resolver);
    this.searches = new FileSearches(resolver);
  }

  private show(p: string): string {
    return this.resolver.display(p);
  }

  /** Runs `fn`, turning errno failures into coded errors about `path`. */
  private async guard<T>(path: string, verb: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw fsError(err, this.show(path), verb);
    }
  }

  private async withParent<T>(
    input: string,
    fn: (dir: PinnedDir, name: string) => Promise<T>,
  ): Promise<T> {
    const { dir, name } = await this.resolver.pinParent(input);
    try {
      return await fn(dir, name);
    } finally {
      await dir.close();
    }
  }

  info(): FsResults["info"] {
    return { home: this.resolver.home, sandbox: this.resolver.sandbox };
  }

  async list(r: FsRequest<"list">): Promise<FsResults["list"]> {
    const page = await this.guard(this.resolver.absolute(r.path), "list", () =>
      this.listings.list(r),
    );
    const result: FsResults["list"] = { ...page, display: this.show(page.path) };
    if (r.watch !== undefined) {
      try {
        this.watches.watch(page.path, r.watch);
      } catch (err) {
        const e = err instanceof CocalcError ? err : fsError(err, this.show(page.path), "watch");
        result.watchError = {
          code: e instanceof CocalcError ? e.code : "ERR_INTERNAL",
          message: e.message,
        };
      }
    }
    return result;
  }

  async stat(path: string): Promise<StatResult> {
    const abs = this.resolver.absolute(path);
    return this.guard(abs, "open", async () => {
      const entry = await this.withParentOrRoot(abs);
      if (entry.error === "removed") throw fsError({ code: "ENOENT" }, this.show(abs), "open");
      const type: EntryType | "missing" =
        entry.type === "symlink" ? (entry.link?.type ?? "missing") : entry.type;
      // Following every symlink (a dangling one leads to where its target would be).
      const real = await this.resolver.real(abs);
      return { path: abs, real, display: this.show(real), entry, type };
    });
  }

  async resolve(path: string): Promise<FsResults["resolve"]> {
    const abs = this.resolver.absolute(path);
    return this.guard(abs, "resolve", async () => {
      const real = await this.resolver.real(abs);
      return { real, display: this.show(real) };
    });
  }

  private async withParentOrRoot(abs: string): Promise<FileEntry> {
    if (abs === "/" || (this.resolver.sandbox !== null && abs === this.resolver.sandbox)) {
      const st = await stat(abs);
      return {
        name: nameOf(abs),
        type: "dir",
        size: st.size,
        mtime: st.mtimeMs,
        mode: st.mode & 0o7777,
      };
    }
    return this.withParent(abs, (dir, name) => describeEntry(this.resolver, dir, name));
  }

  async exists(r: FsRequest<"exists">): Promise<FsResults["exists"]> {
    return this.guard(this.resolver.absolute(r.dir), "list", () =>
      this.resolver.withDir(r.dir, async (dir) => {
        const existing: string[] = [];
        for (const name of r.names) {
          checkName(name);
          if (await exists(dir.at(name))) existing.push(name);
        }
        return { existing };
      }),
    );
  }

  async read(r: FsRequest<"read">): Promise<FsResults["read"]> {
    const abs = this.resolver.absolute(r.path);
    const max = Math.min(r.maxBytes ?? MAX_READ_BYTES, MAX_READ_BYTES);
    return this.guard(abs, "read", async () => {
      // O_NONBLOCK: opening a named pipe must not wait for a writer.
      const { handle, path } = await this.resolver.openFile(
        abs,
        constants.O_RDONLY | constants.O_NONBLOCK,
      );
      try {
        const st = await handle.stat();
        if (st.isDirectory()) throw fsError({ code: "EISDIR" }, this.show(abs), "read");
        if (!st.isFile()) throw notAFile(this.show(abs));
        // Files in /proc say size 0 and still have content: read until EOF or max.
        const buf = Buffer.alloc(max + 1);
        let got = 0;
        while (got < buf.length) {
          const { bytesRead } = await handle.read(buf, got, buf.length - got, got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        const truncated = got > max;
        let bytes: Buffer = buf.subarray(0, Math.min(got, max));
        if (truncated) bytes = completeUtf8(bytes);
        let text: string | undefined;
        if (!bytes.includes(0)) {
          try {
            text = utf8.decode(bytes);
          } catch {}
        }
        return {
          path,
          size: Math.max(st.size, got),
          mtime: Math.round(st.mtimeMs),
          encoding: text === undefined ? "base64" : "utf8",
          content: text ?? bytes.toString("base64"),
          truncated,
          binary: text === undefined,
        };
      } finally {
        await handle.close();
      }
    });
  }

  async write(r: FsRequest<"write">): Promise<FsResults["write"]> {
    const abs = this.resolver.absolute(r.path);
    const data = Buffer.from(r.content, r.encoding);
    if (data.length > MAX_WRITE_BYTES) {
      throw new CocalcError(
        "ERR_FS_TOO_LARGE",
        `${this.show(abs)}: ${data.length} bytes is more than ${MAX_WRITE_BYTES}; upload it instead`,
      );
    }
    return this.guard(abs, r.exclusive ? "create" : "write", async () => {
      let path: string;
      let created: boolean;
      if (r.exclusive) {
        path = await this.withParent(abs, async (dir, name) => {
          checkNewName(name);
          const h = await open(
            dir.at(name),
            constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
            0o666,
          );
          try {
            await h.writeFile(data);
          } finally {
            await h.close();
          }
          return joinPath(dir.path, name);
        });
        created = true;
      } else if (r.atomic) {
        ({ path, created } = await this.replace(abs, data));
      } else {
        const real = await this.resolver.real(abs);
        created = !(await exists(real));
        if (created) checkNewName(nameOf(real));
        const { handle } = await this.resolver.openFile(
          real,
          constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC,
        );
        try {
          await handle.writeFile(data);
        } finally {
          await handle.close();
        }
        path = real;
      }
      await this.emit(
        created
          ? { type: "FileCreated", data: { path, kind: "file" } }
          : { type: "FileWritten", data: { path, size: data.length } },
      );
      return { path, size: data.length, created };
    });
  }

  /**
   * Writes `data` into a temp file beside the file, then renames it over the file: a reader
   * sees the old bytes or the new ones, never half. The file keeps its mode; a new one gets
   * 0666 minus the umask, as with any write.
   */
  private async replace(abs: string, data: Buffer): Promise<{ path: string; created: boolean }> {
    const real = await this.resolver.real(abs);
    return this.withParent(real, async (dir, name) => {
      checkName(name);
      let mode: number | undefined;
      try {
        const st = await lstat(dir.at(name));
        if (st.isDirectory()) throw fsError({ code: "EISDIR" }, this.show(real), "write");
        if (!st.isFile()) throw notAFile(this.show(real), "write");
        mode = st.mode & 0o7777;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      if (mode === undefined) checkNewName(name);
      const temp = `${UPLOAD_TEMP_PREFIX}${randomId()}`;
      const flags =
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
      try {
        const h = await open(dir.at(temp), flags, mode ?? 0o666);
        try {
          await h.writeFile(data);
          // The umask applied to the open: the file's own mode is put back as it was.
          if (mode !== undefined) await h.chmod(mode);
          await h.sync();
        } finally {
          await h.close();
        }
        await rename(dir.at(temp), dir.at(name));
      } catch (err) {
        await rm(dir.at(temp), { force: true }).catch(() => undefined);
        throw err;
      }
      return { path: joinPath(dir.path, name), created: mode === undefined };
    });
  }

  async mkdir(r: FsRequest<"mkdir">): Promise<FsResults["mkdir"]> {
    const abs = this.resolver.absolute(r.path);
    return this.guard(abs, "create", async () => {
      if (r.parents) await this.checkNamesToMake(abs);
      return this.makeDir(abs, r.parents);
    });
  }

  /**
   * Before `mkdir -p` makes anything: every folder it would make must have a good new name,
   * so a bad name deep down does not leave the folders above it made.
   */
  private async checkNamesToMake(abs: string): Promise<void> {
    for (let p = abs; p !== "/"; p = parentOf(p)) {
      const there = await this.withParent(p, (dir, name) => exists(dir.at(name))).catch(
        () => false,
      );
      if (there) return;
      checkNewName(nameOf(p));
    }
  }

  private async makeDir(abs: string, parents: boolean): Promise<FsResults["mkdir"]> {
    try {
      return await this.withParent(abs, async (dir, name) => {
        const path = joinPath(dir.path, name);
        const isDir = () => stat(dir.at(name)).then((s) => s.isDirectory());
        // An existing folder is fine whatever its name: nothing is made.
        if (parents && (await isDir().catch(() => false))) return { path, created: false };
        checkNewName(name);
        try {
          await mkdir(dir.at(name));
        } catch (err) {
          if (parents && (err as NodeJS.ErrnoException).code === "EEXIST") {
            if (await isDir()) return { path, created: false };
          }
          throw err;
        }
        await this.emit({ type: "FileCreated", data: { path, kind: "dir" } });
        return { path, created: true };
      });
    } catch (err) {
      const missing =
        (err instanceof CocalcError && err.code === "ERR_FS_NOT_FOUND") ||
        (err as NodeJS.ErrnoException).code === "ENOENT";
      if (!parents || !missing || abs === "/") throw err;
      await this.makeDir(parentOf(abs), true);
      return this.makeDir(abs, false);
    }
  }

  async rename(from: string, to: string): Promise<{ from: string; to: string }> {
    const src = this.resolver.absolute(from);
    const dst = this.resolver.absolute(to);
    return this.guard(src, "rename", () =>
      this.withParent(src, (sdir, sname) =>
        this.withParent(dst, async (ddir, dname) => {
          checkNewName(dname);
          const a = joinPath(sdir.path, sname);
          const b = joinPath(ddir.path, dname);
          const kind = await kindAt(sdir.at(sname));
          if (a === b) return { from: a, to: b };
          if (isInside(this.resolver.home, a) || a === this.resolver.sandbox) {
            throw new CocalcError(
              "ERR_FS_PERMISSION",
              `refusing to move ${this.show(a)}: it holds the home directory`,
            );
          }
          if (kind === "dir" && isInside(ddir.path, a)) {
            throw new CocalcError(
              "ERR_FS_INVALID_MOVE",
              `cannot move ${this.show(a)} into itself (${this.show(b)})`,
            );
          }
          // rename(2) replaces silently; we never do.
          if (await exists(ddir.at(dname))) {
            throw new CocalcError("ERR_FS_EXISTS", `${this.show(b)} already exists`);
          }
          try {
            await rename(sdir.at(sname), ddir.at(dname));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
            // Another file system: copy, then delete the original.
            await copyEntry(sdir, sname, ddir, dname, { fast: this.resolver.sandbox === null });
            await removeEntry(sdir, sname);
          }
          await this.emit({ type: "FileRenamed", data: { from: a, to: b, kind } });
          return { from: a, to: b };
        }),
      ),
    );
  }

  async move(r: FsRequest<"move">): Promise<FsResults["move"]> {
    const dir = await this.resolver.real(r.dir);
    const moved: { from: string; to: string }[] = [];
    for (const p of r.paths) {
      const abs = this.resolver.absolute(p);
      try {
        moved.push(await this.rename(abs, joinPath(dir, nameOf(abs))));
      } catch (err) {
        if (!(err instanceof CocalcError) || err.code !== "ERR_FS_NAME") throw err;
        throw new CocalcError("ERR_FS_NAME", `${err.message}: rename it before moving it`);
      }
    }
    return { moved };
  }

  async copy(r: FsRequest<"copy">): Promise<FsResults["copy"]> {
    const target = this.resolver.absolute(r.dir);
    const copied: { from: string; to: string }[] = [];
    for (const p of r.paths) {
      const abs = this.resolver.absolute(p);
      copied.push(
        await this.guard(abs, "copy", () =>
          this.withParent(abs, (sdir, sname) =>
            this.resolver.withDir(target, async (ddir) => {
              const from = joinPath(sdir.path, sname);
              if (isInside(ddir.path, from) && (await kindAt(sdir.at(sname))) === "dir") {
                throw new CocalcError(
                  "ERR_FS_INVALID_MOVE",
                  `cannot copy ${this.show(from)} into itself`,
                );
              }
              const taken = new Set<string>();
              // Probe names one by one; the directory may be huge, so never list it.
              let name = sname;
              for (;;) {
                name = nextFreeName(sname, (n) => taken.has(n), " (copy)");
                if (!(await exists(ddir.at(name)))) break;
                taken.add(name);
              }
              checkNewName(name);
              const kind: EntryKind = await copyEntry(sdir, sname, ddir, name, {
                fast: this.resolver.sandbox === null,
              });
              const to = joinPath(ddir.path, name);
              await this.emit({ type: "FileCopied", data: { from, to, kind } });
              return { from, to };
            }),
          ),
        ),
      );
    }
    return { copied };
  }

  async delete(r: FsRequest<"delete">): Promise<FsResults["delete"]> {
    const deleted: string[] = [];
    for (const p of r.paths) {
      const abs = this.resolver.absolute(p);
      await this.guard(abs, "delete", () =>
        this.withParent(abs, async (dir, name) => {
          const path = joinPath(dir.path, name);
          const home = this.resolver.home;
          if (isInside(home, path) || path === this.resolver.sandbox) {
            throw new CocalcError(
              "ERR_FS_PERMISSION",
              `refusing to delete ${this.show(path)}: it holds the home directory`,
            );
          }
          const kind = await removeEntry(dir, name);
          await this.emit({ type: "FileDeleted", data: { path, kind } });
          deleted.push(path);
        }),
      );
    }
    return { deleted };
  }

  async watch(r: FsRequest<"watch">): Promise<FsResults["watch"]> {
    const abs = this.resolver.absolute(r.path);
    const path = await this.guard(abs, "watch", async () => {
      const real = await this.resolver.real(abs);
      if (!(await stat(real)).isDirectory()) throw fsError({ code: "ENOTDIR" }, this.show(abs));
      return real;
    });
    return { path, ...this.watches.watch(path, r.client) };
  }

  unwatch(r: FsRequest<"unwatch">): FsResults["unwatch"] {
    const dir = r.path === undefined ? undefined : this.resolver.absolute(r.path);
    return { stopped: this.watches.unwatch(r.client, dir) };
  }
}
