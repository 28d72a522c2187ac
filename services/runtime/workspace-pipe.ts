/**
 * A byte pipe (services/runtime/byte-pipe.ts) from the hub to a workspace on its host: the host
 * (services/host/pipe-exec.ts) runs a command in the container, or relays to a TCP port on its
 * network (`kind: "tcp"`), and the bytes travel over NATS (no inbound port on hosts). Used by
 * the hub's SSH server and the hub's app proxy (`/ws/<wsid>/port/<n>/`).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { randomId } from "../../shared/base64url.js";
import { request } from "../../shared/command-client.js";
import { CocalcError } from "../../shared/errors.js";
import { hostSubjects } from "../../shared/subjects.js";
import { BytePipe } from "./byte-pipe.js";

/** Opens a pipe to workspace `wsid` on `hostId` for `data` (OpenPipe); refused with a CocalcError. */
export async function openWorkspacePipe(
  nc: NatsConnection,
  wsid: string,
  hostId: string | undefined,
  data: Record<string, unknown>,
): Promise<BytePipe> {
  if (!hostId) throw new CocalcError("ERR_WORKSPACE_STATE", "the workspace is not on a host yet");
  const pipeId = randomId()
    .replace(/[^A-Za-z0-9]/g, "")
    .slice(0, 20);
  const s = hostSubjects(hostId).pipe(wsid, pipeId);
  const pipe = new BytePipe({ nc, send: s.toHost, receive: s.fromHost });
  await pipe.ready();
  try {
    await request(
      nc,
      hostSubjects(hostId).workspaceCommand(wsid),
      { type: "OpenPipe", data: { pipeId, ...data } },
      {
        timeoutMs: 60_000,
        unanswered: () =>
          new CocalcError(
            "ERR_HOST_OFFLINE",
            "the workspace's host did not answer: it may be offline; try again in a moment",
          ),
      },
    );
  } catch (err) {
    pipe.destroy();
    throw err;
  }
  return pipe;
}
