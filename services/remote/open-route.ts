/**
 * GET /api/remote/open/:sid on the local gateway (opened with a signed link): sends the browser
 * to the session's tunnel with the remote daemon's token, which the page itself never sees;
 * the remote page signs in with it and drops it from the URL at once.
 */
import { readFile } from "node:fs/promises";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { FastifyInstance } from "fastify";
import type { RemoteSessionView } from "../../shared/remote.js";
import { Buckets, Keys } from "../../shared/subjects.js";
import { remoteTokenFile } from "./service.js";

export function openRemoteRoute(app: FastifyInstance, nc: NatsConnection, dataDir: string): void {
  app.get<{ Params: { sid: string } }>("/api/remote/open/:sid", async (request, reply) => {
    const { sid } = request.params;
    const refuse = (status: number, code: string, message: string) =>
      reply.code(status).header("Cache-Control", "no-store").send({ code, message });
    let key: string;
    try {
      key = Keys.remoteSession(sid);
    } catch {
      return refuse(404, "ERR_REMOTE_NOT_FOUND", "no such remote session");
    }
    const kv = await new Kvm(nc).open(Buckets.remoteSessions);
    const e = await kv.get(key);
    const view =
      e && e.operation === "PUT" && e.length > 0 ? e.json<RemoteSessionView>() : undefined;
    if (!view) return refuse(404, "ERR_REMOTE_NOT_FOUND", "no such remote session");
    if (view.status !== "running" || view.localPort === undefined)
      return refuse(409, "ERR_REMOTE_DAEMON", `${view.target} is ${view.status}; connect it first`);
    let token: string;
    try {
      token = (await readFile(remoteTokenFile(dataDir, sid), "utf8")).trim();
    } catch {
      return refuse(409, "ERR_REMOTE_DAEMON", `${view.target} has no token here; connect it again`);
    }
    return reply
      .header("Cache-Control", "no-store")
      .header("Referrer-Policy", "no-referrer")
      .redirect(`http://127.0.0.1:${view.localPort}/?token=${token}`, 302);
  });
}
