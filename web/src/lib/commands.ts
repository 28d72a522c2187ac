/** Sends commands and requests to the workspace's services over the page's connection. */
import { RequestError, TimeoutError } from "@nats-io/nats-core";
import { commandReply, type RequestSender } from "../../../shared/command-client.js";
import type { CommandReply } from "../../../shared/commands.js";
import type { ErrorPayload } from "../../../shared/errors.js";
import { workspaceSubjects } from "../../../shared/subjects.js";
import type { WorkspaceConnection } from "./connection.js";
import { messageOf } from "./delay.js";

// Generous: a busy machine may need seconds to start a pty host or a shell, and a command
// that is still running should not be reported as failed.
const COMMAND_TIMEOUT_MS = 30_000;

/** The page's connection as what the shared command client sends with. */
export function requestSender(conn: WorkspaceConnection): RequestSender {
  return { request: (subject, payload, o) => conn.request(subject, payload, o.timeout) };
}

/** What a request to `service` that got no reply says: not running, too slow, or why not. */
export function unansweredError(
  service: string,
  err: unknown,
  notRunning = `the ${service} service is not running`,
): ErrorPayload {
  if (err instanceof RequestError && err.isNoResponders()) {
    return { code: "ERR_COMMAND_TIMEOUT", message: notRunning };
  }
  if (
    err instanceof TimeoutError ||
    (err instanceof RequestError && err.cause instanceof TimeoutError)
  ) {
    return {
      code: "ERR_COMMAND_TIMEOUT",
      message: `the ${service} service did not answer in time`,
    };
  }
  return { code: "ERR_INTERNAL", message: messageOf(err) };
}

/**
 * Sends `{ type, data }` to `service`; never throws, failures come back as `{ ok: false }`.
 * `read`: a command that only reads (opening a document), sent on the service's read-only
 * subject, which a hosted workspace's viewer may use too.
 */
export async function sendCommand(
  conn: WorkspaceConnection,
  service: string,
  type: string,
  data: unknown,
  o: { read?: boolean } = {},
): Promise<CommandReply> {
  let subject: string;
  try {
    const subjects = workspaceSubjects(conn.wsid);
    subject = o.read ? subjects.read(service) : subjects.command(service);
  } catch (err) {
    return { ok: false, error: { code: "ERR_INTERNAL", message: messageOf(err) } };
  }
  try {
    return await commandReply(
      requestSender(conn),
      subject,
      { type, data },
      { timeoutMs: COMMAND_TIMEOUT_MS },
    );
  } catch (err) {
    return { ok: false, error: unansweredError(service, err) };
  }
}
