/**
 * The `remote-sessions` view as the services that hang off a session follow it (forwards,
 * sync): read at start, kept current by a watch, and read again for the session a command
 * names, so that a port forward or sync pair of a session that does not exist is refused.
 */
import type { KV, Kvm, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import { type RemoteSessionView, sessionIdOf } from "../../shared/remote.js";
import { Buckets, Keys } from "../../shared/subjects.js";
import type { Logger } from "./logger.js";

export class KnownSessions {
  private readonly views = new Map<string, RemoteSessionView>();
  /** The last view of every session seen, also of one removed since (one small value each). */
  private readonly seen = new Map<string, RemoteSessionView>();
  private watch: QueuedIterator<KvWatchEntry> | undefined;
  private watching: Promise<void> | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly log: Logger,
  ) {}

  /** Opens the view and reads every session in it. */
  static async open(kvm: Kvm, log: Logger): Promise<KnownSessions> {
    const s = new KnownSessions(await kvm.open(Buckets.remoteSessions), log);
    for await (const key of await s.kv.keys()) await s.refresh(key);
    return s;
  }

  get(sid: string): RemoteSessionView | undefined {
    return this.views.get(sid);
  }

  has(sid: string): boolean {
    return this.views.has(sid);
  }

  /**
   * The session's view as this process last saw it, also once the session was removed: what
   * is left to do for it afterwards (a removed pair's remote temp dir) goes over its ssh.
   */
  lastSeen(sid: string): RemoteSessionView | undefined {
    return this.seen.get(sid);
  }

  private put(sid: string, view: RemoteSessionView): void {
    this.views.set(sid, view);
    this.seen.set(sid, view);
  }

  /**
   * The session of `target` that exists and is not being removed: its id and canonical
   * target, else undefined (`sessionIdOf` throws ERR_REMOTE_TARGET for a malformed target).
   */
  find(target: string): { sid: string; target: string } | undefined {
    const sid = sessionIdOf(target);
    const v = this.views.get(sid);
    return v && v.desired !== "removed" ? { sid, target: v.target } : undefined;
  }

  /** Reads session `sid` again: a command that names it sees what the view has now. */
  async refresh(sid: string): Promise<void> {
    const e = await this.kv.get(Keys.remoteSession(sid));
    if (e && e.operation === "PUT" && e.length > 0) this.put(sid, e.json<RemoteSessionView>());
    else this.views.delete(sid);
  }

  /**
   * Follows the view from now on; `onChange` runs for each session that changed, and first
   * for every current one (the watch starts with every current value).
   */
  async follow(onChange: (sid: string) => Promise<void> = async () => undefined): Promise<void> {
    const watch = await this.kv.watch({ key: ">" });
    this.watch = watch;
    this.watching = (async () => {
      for await (const e of watch) {
        if (e.operation === "PUT" && e.length > 0) this.put(e.key, e.json<RemoteSessionView>());
        else this.views.delete(e.key);
        await onChange(e.key).catch((err) =>
          this.log.warn({ sid: e.key, err }, "not brought in line with the session"),
        );
      }
    })();
  }

  async stop(): Promise<void> {
    this.watch?.stop();
    await this.watching?.catch(() => undefined);
  }
}
