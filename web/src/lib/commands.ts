/** Sends commands to the workspace's services and turns every outcome into a CommandReply. */
import { RequestError, TimeoutError } from "@nats-io/nats-core";
import type { CommandReply } from "../../../shared/commands.js";
import { workspaceSubjects } from "../../../shared/subjects.js";
import type { WorkspaceConnection } from "./connection.js";
import { messageOf } from "./delay.js";

// Generous: a busy machine may need seconds to start a pty host or a shell, and a command
// that is still running should not be reported as failed.
const COMMAND_TIMEOUT_MS = 30_000;

/** Sends `{ type, data }` to `service`; never throws, failures come back as `{ ok: false }`. */
export async function sendCommand(
  conn: WorkspaceConnection,
  service: string,
  type: string,
  data: unknown,
): Promise<CommandReply> {
  let subject: string;
  try {
    subject = workspaceSubjects(conn.wsid).command(service);
  } catch (err) {
    return { ok: false, error: { code: "ERR_INTERNAL", message: messageOf(err) } };
  }
  try {
    const msg = await conn.request(subject, JSON.stringify({ type, data }), COMMAND_TIMEOUT_MS);
    return parseReply(msg.string());
  } catch (err) {
    if (err instanceof RequestError && err.isNoResponders()) {
      return {
        ok: false,
        error: { code: "ERR_COMMAND_TIMEOUT", message: `the ${service} service is not running` },
      };
    }
    if (
      err instanceof TimeoutError ||
      (err instanceof RequestError && err.cause instanceof TimeoutError)
    ) {
      return {
        ok: false,
        error: {
          code: "ERR_COMMAND_TIMEOUT",
          message: `the ${service} service did not answer in time`,
        },
      };
    }
    return { ok: false, error: { code: "ERR_INTERNAL", message: messageOf(err) } };
  }
}

function parseReply(text: string): CommandReply {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: { code: "ERR_INTERNAL", message: "the reply is not JSON" } };
  }
  if (typeof value === "object" && value !== null && "ok" in value) {
    const reply = value as CommandReply;
    if (reply.ok === true && Array.isArray(reply.seqs)) return reply;
    if (reply.ok === false && typeof reply.error?.message === "string") return reply;
  }
  return {
    ok: false,
    error: { code: "ERR_INTERNAL", message: "the reply has an unexpected shape" },
  };
}
