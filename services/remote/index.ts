/** The remote service: `cocalc-plus ssh` sessions, their remote daemons and tunnels. */
import type { ServiceDefinition } from "../runtime/service.js";
import { REMOTE_SERVICE, type RemoteServiceOptions, startRemote } from "./service.js";

export type { LocalBundle } from "./remote-host.js";
export {
  REMOTE_SERVICE,
  type RemoteServiceOptions,
  remoteRegistry,
  remoteTokenFile,
  sessionControlDir,
} from "./service.js";
export {
  readSessionsSnapshot,
  type SessionsSnapshot,
  sessionsSnapshotFile,
} from "./snapshot.js";
export { controlPath, SshClient } from "./ssh.js";

export function remoteService(opts: RemoteServiceOptions): ServiceDefinition {
  return {
    name: REMOTE_SERVICE,
    durables: [REMOTE_SERVICE],
    start: (ctx) => startRemote(ctx, opts),
  };
}
export { openRemoteRoute } from "./open-route.js";
