/**
 * A copy of the `remote-sessions` view in a file of the data dir, kept by the remote service
 * after each event it projects: `cocalc-plus ssh list` and `ssh status` read it when no local
 * plus runs, instead of starting one only to ask it.
 */
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { KV } from "@nats-io/kv";
import type { RemoteSessionView } from "../../shared/remote.js";
import { Keys } from "../../shared/subjects.js";
import type { Logger } from "../runtime/logger.js";
import { writeSecretFile } from "../runtime/secret-file.js";

/** What the file holds. */
export interface SessionsSnapshot {
  writtenAt: string;
  sessions: RemoteSessionView[];
}

export function sessionsSnapshotFile(dataDir: string): string {
  return join(dataDir, "remote", "sessions.json");
}

/** The sessions as the local plus last saw them (none when it never kept any). */
export async function readSessionsSnapshot(dataDir: string): Promise<SessionsSnapshot> {
  try {
    return JSON.parse(await readFile(sessionsSnapshotFile(dataDir), "utf8")) as SessionsSnapshot;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      return { writtenAt: new Date(0).toISOString(), sessions: [] };
    throw err;
  }
}

/** Keeps the file in line with the view; writes go one after another, the last one wins. */
export class SnapshotWriter {
  private readonly views = new Map<string, RemoteSessionView>();
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly kv: KV,
    private readonly log: Logger,
    private readonly now: () => Date,
  ) {}

  /** Reads every session of the view and writes the file. */
  async load(): Promise<void> {
    for await (const key of await this.kv.keys()) await this.read(key);
    await this.write();
  }

  /** After an event of session `sid` was projected. */
  async refresh(sid: string): Promise<void> {
    await this.read(Keys.remoteSession(sid));
    await this.write();
  }

  private async read(key: string): Promise<void> {
    const e = await this.kv.get(key);
    if (e && e.operation === "PUT" && e.length > 0)
      this.views.set(key, e.json<RemoteSessionView>());
    else this.views.delete(key);
  }

  private write(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const snapshot: SessionsSnapshot = {
        writtenAt: this.now().toISOString(),
        sessions: [...this.views.values()].sort((a, b) => a.target.localeCompare(b.target)),
      };
      try {
        await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
        await writeSecretFile(this.file, `${JSON.stringify(snapshot, null, 2)}\n`);
      } catch (err) {
        // Only a copy for reading while plus is down: the view itself is fine.
        this.log.warn({ err, path: this.file }, "the sessions file was not written");
      }
    });
    return this.writing;
  }
}
