/**
 * A host's images: read-only btrfs subvolumes of root file systems, owned inside the
 * workspaces' uid range, each added and removed as an event on the host's subjects.
 */
import { chmod, lchown, lstat, mkdir, readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import type { JetStreamClient } from "@nats-io/jetstream";
import { EventRegistry, envelope } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import { HostEvents } from "../../shared/launchpad.js";
import { hostSubjects } from "../../shared/subjects.js";
import type { KeyedMutex } from "../runtime/aggregate.js";
import { publishEvent } from "../runtime/publish.js";
import { imagePath, UID_BASE } from "./layout.js";
import { btrfs, isDirectory, pathExists, run } from "./system.js";

export const hostRegistry = new EventRegistry(HostEvents);

export interface HostImagesOptions {
  js: JetStreamClient;
  hostId: string;
  root: string;
  /** The host's lock: an image's import and removal run one at a time. */
  lock: KeyedMutex;
  /** The workspaces that use an image (it cannot be removed while one does). */
  usersOf(name: string): string[];
  meta(): { actor: string; at: string };
}

export class HostImages {
  constructor(private readonly o: HostImagesOptions) {}

  /** The image's folder; ERR_HOST_IMAGE when the host does not have it. */
  async require(name: string): Promise<string> {
    const path = imagePath(this.o.root, name);
    if (!(await isDirectory(path)))
      throw new CocalcError("ERR_HOST_IMAGE", `no image ${name} on host ${this.o.hostId}`);
    return path;
  }

  /**
   * Imports a rootfs directory as image `name`; `progress` hears each step and, while the
   * copy runs, how much of it is done (no paths: the lines may reach a hub's admin).
   */
  import(
    name: string,
    source: string,
    description: string,
    progress: (line: string) => void = () => undefined,
  ): Promise<number[]> {
    return this.o.lock.run(`image:${name}`, async () => {
      const dest = imagePath(this.o.root, name);
      if (await pathExists(dest))
        throw new CocalcError("ERR_HOST_IMAGE", `image ${name} already exists; remove it first`);
      if (!(await isDirectory(source)) || !(await isDirectory(join(source, "bin"))))
        throw new CocalcError("ERR_HOST_IMAGE", `${source} is not a root file system (no bin/)`);
      const megabytes = async (dir: string) =>
        Number((await run("ERR_HOST_IMAGE", "du", ["-sm", dir])).split(/\s/)[0]) || 0;
      const total = await megabytes(source);
      await mkdir(join(this.o.root, "images"), { recursive: true });
      const tmp = join(this.o.root, "images", `.import-${name}`);
      await btrfs.remove(tmp);
      await btrfs.create(tmp);
      try {
        progress(`copying image ${name} (${total} MB)`);
        const copied = everyWhile(2000, async () =>
          progress(`copied ${Math.min(await megabytes(tmp), total)} of ${total} MB`),
        );
        try {
          await run("ERR_HOST_IMAGE", "cp", ["-a", "--reflink=auto", `${source}/.`, `${tmp}/`], {
            timeoutMs: 30 * 60_000,
          });
        } finally {
          await copied.stop();
        }
        progress("shifting owners into the workspaces' user namespace");
        await shiftOwnership(tmp, UID_BASE);
        progress("making the image read-only");
        await btrfs.setReadOnly(tmp);
        await rename(tmp, dest);
      } catch (err) {
        await btrfs.remove(tmp).catch(() => undefined);
        throw err;
      }
      const sizeMb = await megabytes(dest);
      progress(`image ${name} added (${sizeMb} MB)`);
      const ev = envelope(
        { type: "ImageAdded", v: 1 },
        { name, description, sizeMb },
        this.o.meta(),
      );
      hostRegistry.check(ev);
      const ack = await publishEvent(this.o.js, hostSubjects(this.o.hostId).image(name), ev);
      return [ack.seq];
    });
  }

  /** Removes image `name`; refused while a workspace that is not deleted uses it. */
  remove(name: string): Promise<number[]> {
    return this.o.lock.run(`image:${name}`, async () => {
      const path = imagePath(this.o.root, name);
      if (!(await pathExists(path))) throw new CocalcError("ERR_HOST_IMAGE", `no image ${name}`);
      const users = this.o.usersOf(name);
      if (users.length > 0)
        throw new CocalcError("ERR_HOST_IMAGE", `image ${name} is used by ${users.join(", ")}`);
      await btrfs.remove(path);
      const ev = envelope({ type: "ImageRemoved", v: 1 }, { name }, this.o.meta());
      const ack = await publishEvent(this.o.js, hostSubjects(this.o.hostId).image(name), ev);
      return [ack.seq];
    });
  }
}

/**
 * Moves every file's owner into the containers' uid range (uid → base + uid), so that root in
 * a container owns what root owned in the image. Symlinks are changed, not followed.
 */
export async function shiftOwnership(dir: string, base: number): Promise<void> {
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path);
    if (st.uid < base) await lchown(path, st.uid + base, st.gid + base);
    // chown clears set-uid/set-gid bits; put them back.
    if (!st.isSymbolicLink() && (st.mode & 0o6000) !== 0) await chmod(path, st.mode & 0o7777);
    if (st.isDirectory()) {
      for (const name of await readdir(path)) await walk(join(path, name));
    }
  };
  await walk(dir);
}

/**
 * Runs `task` every `ms` until stopped, one at a time (a slow one delays the next); a task
 * that fails is skipped. `stop` waits for the one under way.
 */
function everyWhile(ms: number, task: () => Promise<void>): { stop(): Promise<void> } {
  let current: Promise<void> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    current = current.then(() => (stopped ? undefined : task().catch(() => undefined)));
  }, ms);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}
