/**
 * The files of a container workspace's documents, reached through the workspace's fs service
 * (`ws.<wsid>.req.fs`): it maps the container's paths (`/home/user/x`) onto the host and does
 * every read, write and watch in its worker, as the workspace user, sandboxed to the
 * workspace. So a document never follows a symlink to a host path or into another workspace,
 * and what it writes belongs to the user. Paths here are the container's.
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
  type FsResults,
  MAX_READ_BYTES,
  WATCH_LEASE_MS,
} from "../../shared/files.js";
import { displayPath, nameOf, parentOf } from "../../shared/paths.js";
import { ServiceNames, workspaceSubjects } from "../../shared/subjects.js";
import { fsRequest } from "../runtime/fs-requests.js";
import type { Logger } from "../runtime/logger.js";
import type { DiskRead } from "./disk.js";
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
    async real(input) {
      return (await fsRequest(o.nc, o.wsid, { op: "resolve", path: input })).real;
    },
    display,
    async read(path, maxBytes = DOC_MAX_BYTES): Promise<DiskRead> {
      // The fs service answers a read in one message: at most MAX_READ_BYTES.
      const limit = Math.min(maxBytes, MAX_READ_BYTES);
      let r: FsResults["read"];
      try {
        r = await fsRequest(o.nc, o.wsid, { op: "read", path, maxBytes: limit });
      } catch (err) {
        if (!(err instanceof CocalcError)) throw err;
        if (err.code === "ERR_FS_NOT_FOUND") return { status: "missing" };
        if (err.code === "ERR_FS_IS_DIR" || err.code === "ERR_FS_NOT_FILE")
          throw new CocalcError("ERR_DOC_NOT_TEXT", `${display(path)} is not a regular file`);
        throw err;
      }
      if (r.truncated || r.size > limit) return { status: "too-large", size: r.size, limit };
      if (r.binary) return { status: "binary", size: r.size };
      return { status: "text", text: r.content };
    },
    async write(path, text) {
      await fsRequest(o.nc, o.wsid, {
        op: "write",
        path,
        content: text,
        encoding: "utf8",
        exclusive: false,
        atomic: true,
      });
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
