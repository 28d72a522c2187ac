/**
 * The signed-in account's agent API keys over HTTP: their names (the account's, and a
 * workspace's for its owners) and setting or removing one. Values go in, never out; the hub's
 * agent keys service (over NATS, `hubcmd.agentkeys`) keeps them sealed. Register after
 * authPlugin.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { EnvName } from "../../shared/agents.js";
import {
  AgentKeyScopes,
  HubAgentKeySubjects,
  type HubAgentKeysReply,
} from "../../shared/hub-agent-keys.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { accountOfRequest, askHub } from "./hub-auth.js";

export const HUB_AGENT_KEYS_PATH = "/api/hub/agent-keys";

export interface HubAgentKeysOptions {
  nc: NatsConnection;
  sessions: BrowserSessions;
}

const Wsid = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });
const ListQuery = Type.Object({ wsid: Type.Optional(Wsid) }, { additionalProperties: false });
const SetBody = Type.Object(
  {
    scope: Type.Union(AgentKeyScopes.map((s) => Type.Literal(s))),
    wsid: Type.Optional(Wsid),
    name: Type.String({ pattern: EnvName }),
    value: Type.String({ maxLength: 10_000 }),
  },
  { additionalProperties: false },
);

export const hubAgentKeysPlugin = fp<HubAgentKeysOptions>(
  async (app: FastifyInstance, opts: HubAgentKeysOptions) => {
    const ask = (type: string, data: unknown) =>
      askHub<HubAgentKeysReply>(
        opts.nc,
        HubAgentKeySubjects.command,
        type,
        data,
        "agent keys service",
      );

    app.get<{ Querystring: Static<typeof ListQuery> }>(
      HUB_AGENT_KEYS_PATH,
      { schema: { querystring: ListQuery } },
      async (request, reply) => {
        const by = accountOfRequest(opts.sessions, request);
        const r = await ask("ListAgentKeys", { by, ...request.query });
        return reply.header("Cache-Control", "no-store").send({ names: r.names });
      },
    );

    app.put<{ Body: Static<typeof SetBody> }>(
      HUB_AGENT_KEYS_PATH,
      { schema: { body: SetBody } },
      async (request, reply) => {
        const by = accountOfRequest(opts.sessions, request);
        const r = await ask("SetAgentKey", { by, ...request.body });
        return reply.header("Cache-Control", "no-store").send({ names: r.names });
      },
    );
  },
  { name: "hub-agent-keys", dependencies: ["auth"] },
);
