/**
 * The signed-in account's SSH public keys over HTTP (for `ssh -p <hub port + 1> WSID@HUB`):
 * list them (name, type, fingerprint), add one with a name, remove one. The hub's key service
 * (over NATS, `hubcmd.sshkeys`) checks and keeps them with the account. Register after
 * authPlugin.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { HubSshKeySubjects, type HubSshKeysReply, SshKeyName } from "../../shared/hub-ssh.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { accountOfRequest, askHub } from "./hub-auth.js";

export const HUB_SSH_KEYS_PATH = "/api/hub/ssh-keys";

export interface HubSshKeysOptions {
  nc: NatsConnection;
  sessions: BrowserSessions;
}

const AddBody = Type.Object(
  { name: Type.String({ pattern: SshKeyName }), key: Type.String({ maxLength: 16_384 }) },
  { additionalProperties: false },
);
const RemoveBody = Type.Object(
  { name: Type.String({ pattern: SshKeyName }) },
  { additionalProperties: false },
);

export const hubSshKeysPlugin = fp<HubSshKeysOptions>(
  async (app: FastifyInstance, opts: HubSshKeysOptions) => {
    const ask = async (type: string, data: unknown) =>
      (
        await askHub<HubSshKeysReply>(
          opts.nc,
          HubSshKeySubjects.command,
          type,
          data,
          "ssh keys service",
        )
      ).keys;

    app.get(HUB_SSH_KEYS_PATH, async (request, reply) => {
      const by = accountOfRequest(opts.sessions, request);
      return reply
        .header("Cache-Control", "no-store")
        .send({ keys: await ask("ListSshKeys", { by }) });
    });
    app.post<{ Body: Static<typeof AddBody> }>(
      HUB_SSH_KEYS_PATH,
      { schema: { body: AddBody } },
      async (request, reply) => {
        const by = accountOfRequest(opts.sessions, request);
        const keys = await ask("AddSshKey", { by, ...request.body });
        return reply.header("Cache-Control", "no-store").send({ keys });
      },
    );
    app.post<{ Body: Static<typeof RemoveBody> }>(
      `${HUB_SSH_KEYS_PATH}/remove`,
      { schema: { body: RemoveBody } },
      async (request, reply) => {
        const by = accountOfRequest(opts.sessions, request);
        const keys = await ask("RemoveSshKey", { by, ...request.body });
        return reply.header("Cache-Control", "no-store").send({ keys });
      },
    );
  },
  { name: "hub-ssh-keys", dependencies: ["auth"] },
);
