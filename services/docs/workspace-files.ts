/**
 * The files of a container workspace's documents, reached through the workspace's fs service
 * (`ws.<wsid>.req.fs`): it maps the container's paths (`/home/user/x`) onto the host and does
 * every read, write and watch in its worker, as the workspace user, sandboxed to the
 * workspace. So a document never follows a symlink to a host path or into another workspace,
 * and what it writes belongs to the user. Paths here are the container's. A file larger than
 * one message (a notebook with images) is read and saved in chunks through the workspace's
 * transfer requests (`ws.<wsid>.req.fs-transfer`), saved beside itself and renamed over it.
 *
 * Outside changes come from the fs service's change feed (`ws.<wsid>.feed.fs`): each folder
 * that holds an open document is watched under one client id, the lease renewed at a third of
 * its life. A renewal the fs service did not know (it restarted, or the folder could not be
 * watched before) means changes went unheard: every document of the folder is looked at again.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { randomId } from "../../shared/base64url.js";
import { DOC_MAX_BYTES } from "../../shared/docs.js";
import { CocalcError } from "../../shared/errors.js";
import {
  type FsChange,
  MAX_READ_BYTES,
  MAX_WRITE_BYTES,
  WATCH_LEASE_MS,
} from "../../shared/files.js";
import { displayPath, nameOf, parentOf } from "../../shared/paths.js";
import { ServiceNames, workspaceSubjects } from "../../shared/subjects.js";
import { fsRequest } from "../runtime/fs-requests.js";
import type { Logger } from "../runtime/logger.js";
import { TransferClient } from "../runtime/transfer-client.js";
import { type DiskRead, textOf } from "./disk.js";
import type { DocFiles } from "./files.js";

export interface WorkspaceFilesOptions {
  nc: NatsConnection;
  wsid: string;
  /** The workspace user's home inside the container. */
  home: string;
  log: Logger;
}

interface Watcher {
  name: string;
  changed(): void;
}

export function workspaceFiles(o: WorkspaceFilesOptions): DocFiles {
  const subjects = workspaceSubjects(o.wsid);
  // Watch leases are per client: this service's are its own.
  const client = `docs-${randomId().slice(0, 16)}`;
  /** Open documents' files by folder (canonical, as the feed names it). */
  const folders = new Map<string, Set<Watcher>>();
  const display = (path: string) => displayPath(path, o.home);
  const transfers = new TransferClient(o.nc, o.wsid);
  const real = async (input: string) =>
    (await fsRequest(o.nc, o.wsid, { op: "resolve", path: input })).real;

  const feed: Subscription = o.nc.subscribe(subjects.feed(ServiceNames.fs), {
    callback: (err, m) => {
      if (err) return;
      let change: FsChange;
      try {
        change = m.json<FsChange>();
      } catch {
        return;
      }
      const watchers = folders.get(change?.dir);
      if (!watchers) return;
      for (const w of [...watchers])
        if (change.names === null || change.names.includes(w.name)) w.changed();
    },
  });

  const lease = async (dir: string, renewal: boolean) => {
    try {
      const r = await fsRequest(o.nc, o.wsid, { op: "watch", path: dir, client });
      if (renewal && !r.renewed) for (const w of [...(folders.get(dir) ?? [])]) w.changed();
    } catch (err) {
      // Not there (yet), or the root file system of a stopped workspace: the next renewal
      // tries again, and finds out what changed meanwhile.
      o.log.debug({ path: dir, err }, "documents' folder not watched");
    }
  };
  const renewals = setInterval(() => {
    for (const dir of folders.keys()) void lease(dir, true);
  }, WATCH_LEASE_MS / 3);
  renewals.unref();

  // An ending watch needs no answer: the lease would run out anyway.
  const unwatch = (dir?: string) =>
    o.nc.publish(
      subjects.request(ServiceNames.fs),
      JSON.stringify({ op: "unwatch", client, ...(dir !== undefined && { path: dir }) }),
    );

  return {
    where: { files: "the workspace's fs service", home: o.home },
    real,
    display,
    async read(path, maxBytes = DOC_MAX_BYTES): Promise<DiskRead> {
      try {
        // One message holds MAX_READ_BYTES; a larger file (a notebook) comes in chunks.
        const r = await fsRequest(o.nc, o.wsid, {
          op: "read",
          path,
          maxBytes: Math.min(maxBytes, MAX_READ_BYTES),
        });
        if (!r.truncated && r.size <= MAX_READ_BYTES) {
          if (r.size > maxBytes) return { status: "too-large", size: r.size, limit: maxBytes };
          if (r.binary) return { status: "binary", size: r.size };
          return { status: "text", text: r.content };
        }
        if (r.size > maxBytes) return { status: "too-large", size: r.size, limit: maxBytes };
        const got = await transfers.get(path, maxBytes);
        if ("tooLarge" in got) return { status: "too-large", size: got.tooLarge, limit: maxBytes };
        return textOf(got.bytes);
      } catch (err) {
        if (!(err instanceof CocalcError)) throw err;
        if (err.code === "ERR_FS_NOT_FOUND") return { status: "missing" };
        if (err.code === "ERR_FS_IS_DIR" || err.code === "ERR_FS_NOT_FILE")
          throw new CocalcError("ERR_DOC_NOT_TEXT", `${display(path)} is not a regular file`);
        throw err;
      }
    },
    async write(path, text) {
      const bytes = Buffer.from(text, "utf8");
      if (bytes.length <= MAX_WRITE_BYTES) {
        await fsRequest(o.nc, o.wsid, {
          op: "write",
          path,
          content: text,
          encoding: "utf8",
          exclusive: false,
          atomic: true,
        });
        return;
      }
      // Too large for one message: uploaded beside the file and renamed over it, its mode kept.
      const at = await real(path);
      await transfers.put(
        { op: "upload", dir: parentOf(at), name: nameOf(at), conflict: "replace", save: true },
        bytes,
      );
    },
    async watch(path, changed) {
      const dir = parentOf(path);
      const w: Watcher = { name: nameOf(path), changed };
      let watchers = folders.get(dir);
      if (!watchers) {
        watchers = new Set();
        folders.set(dir, watchers);
        watchers.add(w);
        await lease(dir, false);
      } else watchers.add(w);
      const mine = watchers;
      return () => {
        mine.delete(w);
        if (mine.size > 0 || folders.get(dir) !== mine) return;
        folders.delete(dir);
        unwatch(dir);
      };
    },
    async close() {
      clearInterval(renewals);
      feed.unsubscribe();
      if (folders.size > 0) unwatch();
      folders.clear();
    },
  };
}
