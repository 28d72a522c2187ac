/**
 * How the sync service reaches a pair's remote: through its remote session, with the ssh
 * command the session itself uses (services/remote's SshClient, with the session's --ssh-arg,
 * --identity, --proxy-jump and port). While the session is connected its commands go through
 * its ControlMaster socket; while it reconnects, or is stopped or removed, ssh logs in by
 * itself with the same options, so that what the session can reach, sync can. The plus bundle
 * is where every session installs it. A target this plus never saw as a session (a pair from
 * before pairs needed one) is reached with sync's own ControlMaster, as before sessions existed.
 */
import { SshClient, sessionControlDir } from "../../services/remote/index.js";
import { type RemoteTarget, sshTargetResolver } from "../../services/sync/index.js";
import {
  formatTarget,
  parseTarget,
  REMOTE_INSTALL_ROOT,
  type RemoteSessionView,
} from "../../shared/remote.js";

export function sessionTargetResolver(
  dataDir: string,
  version: string,
  env: NodeJS.ProcessEnv = process.env,
): (session: string, known?: Pick<RemoteSessionView, "target" | "options">) => RemoteTarget {
  const own = sshTargetResolver(dataDir, version, env);
  return (session, known) => {
    if (!known) return own(session);
    const target = parseTarget(known.target);
    const ssh = new SshClient({
      target,
      label: formatTarget(target),
      options: known.options,
      controlDir: sessionControlDir(dataDir),
    });
    return {
      ssh: ssh.commandWithoutHost(),
      destination: target.host,
      bundle:
        env.COCALC_SYNC_REMOTE_BUNDLE ?? `${REMOTE_INSTALL_ROOT}/${version}/dist/bundle/plus.js`,
    };
  };
}
