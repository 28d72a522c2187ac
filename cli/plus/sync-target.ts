/**
 * How the sync service reaches a pair's remote: through its remote session. A session that
 * is connected has a ControlMaster socket (services/remote) and the plus bundle installed where
 * every session installs it; sync's ssh commands go through that socket. A session that is not
 * connected (or a target never opened with `cocalc-plus ssh`) is reached with sync's own
 * ControlMaster, as before sessions existed.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { controlPath } from "../../services/remote/index.js";
import { type RemoteTarget, sshTargetResolver } from "../../services/sync/index.js";
import { formatTarget, parseTarget, REMOTE_INSTALL_ROOT } from "../../shared/remote.js";

export function sessionTargetResolver(
  dataDir: string,
  version: string,
  env: NodeJS.ProcessEnv = process.env,
): (session: string) => RemoteTarget {
  const own = sshTargetResolver(dataDir, version, env);
  return (session) => {
    const target = parseTarget(session);
    const socket = controlPath(join(dataDir, "remote", "ctl"), formatTarget(target));
    if (!existsSync(socket)) return own(session);
    return {
      ssh: [
        "ssh",
        ...(target.port !== undefined ? ["-p", String(target.port)] : []),
        ...(target.user !== undefined ? ["-l", target.user] : []),
        "-o",
        "BatchMode=yes",
        "-o",
        "ControlMaster=no",
        "-S",
        socket,
      ],
      destination: target.host,
      bundle:
        env.COCALC_SYNC_REMOTE_BUNDLE ?? `${REMOTE_INSTALL_ROOT}/${version}/dist/bundle/plus.js`,
    };
  };
}
