/** The sync service: bidirectional file sync between this machine and remote sessions. */
import { join } from "node:path";
import type { ServiceDefinition } from "../runtime/service.js";
import {
  SYNC_SERVICE,
  SYNC_SESSIONS_DURABLE,
  type SyncServiceOptions,
  startSync,
} from "./service.js";
import type { RemoteTarget } from "./sides.js";

export { PairEngine } from "./engine.js";
export { SYNC_SERVICE, type SyncServiceOptions, syncRegistry, syncStateFile } from "./service.js";
export { type RemoteTarget, remoteTargetFromArgv } from "./sides.js";

export function syncService(opts: SyncServiceOptions): ServiceDefinition {
  return {
    name: SYNC_SERVICE,
    durables: [SYNC_SERVICE, SYNC_SESSIONS_DURABLE],
    start: (ctx) => startSync(ctx, opts),
  };
}

/**
 * Reaches a session `[user@]host[:port]` with the system's ssh and a ControlMaster socket of
 * our own, for as long as remote sessions do not hand over theirs. The plus bundle is looked
 * for where a session installs it; COCALC_SYNC_REMOTE_BUNDLE overrides that, and
 * COCALC_SYNC_SSH_OPTIONS adds ssh options (space-separated, e.g. `-i KEY -o Opt=value`).
 */
export function sshTargetResolver(
  dataDir: string,
  version: string,
  env: NodeJS.ProcessEnv = process.env,
): (session: string) => RemoteTarget {
  return (session) => {
    const m = /^(?:([^@\s]+)@)?([^:@\s]+|\[[^\]\s]+\])(?::(\d{1,5}))?$/.exec(session);
    if (!m) throw new Error(`${JSON.stringify(session)} is not [user@]host[:port]`);
    const [, user, host, port] = m;
    const extra = (env.COCALC_SYNC_SSH_OPTIONS ?? "").split(/\s+/).filter(Boolean);
    return {
      ssh: [
        "ssh",
        ...(port ? ["-p", port] : []),
        "-o",
        "BatchMode=yes",
        "-o",
        "ControlMaster=auto",
        "-o",
        `ControlPath=${join(dataDir, "sync", "ssh-%C")}`,
        "-o",
        "ControlPersist=60",
        ...extra,
      ],
      destination: `${user ? `${user}@` : ""}${host!.replace(/^\[|\]$/g, "")}`,
      bundle:
        env.COCALC_SYNC_REMOTE_BUNDLE ?? `.cache/cocalc/cocalc-plus/${version}/dist/bundle/plus.js`,
    };
  };
}
