/**
 * A workspace's fs service asked by another service (the agents and the docs of a container
 * workspace): the fs service maps the container's paths and acts with the workspace user's
 * rights (its worker), so what is reached through it is exactly what that user can reach.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type Reply, requestReply } from "../../shared/command-client.js";
import { fromErrorPayload } from "../../shared/errors.js";
import type { FsRequest, FsResults } from "../../shared/files.js";
import { ServiceNames, workspaceSubjects } from "../../shared/subjects.js";

/** How long a request waits for an fs service that does not listen yet. */
const WAIT_FOR_SERVICE_MS = 15_000;

/** Sends one fs request of workspace `wsid`; an error answer is thrown as its coded error. */
export async function fsRequest<R extends FsRequest>(
  nc: NatsConnection,
  wsid: string,
  request: R,
  timeoutMs = 30_000,
): Promise<FsResults[R["op"]]> {
  const subject = workspaceSubjects(wsid).request(ServiceNames.fs);
  let reply: Reply<{ result: FsResults[R["op"]] }> | undefined;
  // The fs service starts beside the one asking and may not listen yet (a host starting up).
  for (let waited = 0; !reply; waited += 250) {
    try {
      reply = await requestReply<{ result: FsResults[R["op"]] }>(nc, subject, request, {
        timeoutMs,
      });
    } catch (err) {
      if (!/no responders/i.test(String(err)) || waited >= WAIT_FOR_SERVICE_MS) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  if (!reply.ok) throw fromErrorPayload(reply.error);
  return reply.result;
}
