/**
 * The dashboard's workspace actions over HTTP: create (with the images and limits it may
 * choose from), start, stop, rename, delete, snapshots. The signed-in account is the one that
 * asks; the hub's workspaces service (over NATS, `hubcmd.workspaces`) decides. What the
 * dashboard shows comes from views the page watches itself, not from here.
 * Register after authPlugin.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { type HubWorkspaceReply, HubWorkspaceSubjects } from "../../shared/hub-workspaces.js";
import { QuotaSchema } from "../../shared/launchpad.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { accountOfRequest, askHub } from "./hub-auth.js";

export const HUB_WORKSPACES_PATH = "/api/hub/workspaces";

export interface HubWorkspacesOptions {
  nc: NatsConnection;
  sessions: BrowserSessions;
}

const Name = Type.String({ pattern: "^[A-Za-z0-9][-_A-Za-z0-9]{0,62}$" });
const CreateBody = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 200 }),
    image: Name,
    quota: Type.Optional(Type.Partial(QuotaSchema, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
const Actions = ["start", "stop", "delete", "rename", "snapshot", "restore", "snapshots"] as const;
type Action = (typeof Actions)[number];
const Params = Type.Object({
  wsid: Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" }),
  action: Type.Union(Actions.map((a) => Type.Literal(a))),
});
const ActionBody = Type.Object(
  {
    title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    name: Type.Optional(Name),
  },
  { additionalProperties: false },
);

/** Each action's command; `needs` names the body field it takes. */
const ACTIONS: Record<Action, { type: string; needs?: "title" | "name" }> = {
  start: { type: "StartHubWorkspace" },
  stop: { type: "StopHubWorkspace" },
  delete: { type: "DeleteHubWorkspace" },
  rename: { type: "RenameHubWorkspace", needs: "title" },
  snapshot: { type: "SnapshotHubWorkspace", needs: "name" },
  restore: { type: "RestoreHubWorkspace", needs: "name" },
  snapshots: { type: "ListHubSnapshots" },
};

/** Starting may import an image and stopping waits for the container: the host's own time. */
const ACTION_TIMEOUT_MS = 150_000;

export const hubWorkspacesPlugin = fp<HubWorkspacesOptions>(
  async (app: FastifyInstance, opts: HubWorkspacesOptions) => {
    const ask = (type: string, data: unknown, timeoutMs?: number) =>
      askHub<HubWorkspaceReply>(
        opts.nc,
        HubWorkspaceSubjects.command,
        type,
        data,
        "workspaces service",
        timeoutMs,
      );
    const by = (request: Parameters<typeof accountOfRequest>[1]) =>
      accountOfRequest(opts.sessions, request);

    app.get(`${HUB_WORKSPACES_PATH}/options`, async (request, reply) => {
      const r = await ask("HubCreateOptions", { by: by(request) });
      return reply.header("Cache-Control", "no-store").send({ images: r.images, limits: r.limits });
    });

    app.post<{ Body: Static<typeof CreateBody> }>(
      HUB_WORKSPACES_PATH,
      { schema: { body: CreateBody } },
      async (request, reply) => {
        const r = await ask("CreateHubWorkspace", {
          by: by(request),
          title: request.body.title,
          image: request.body.image,
          quota: request.body.quota ?? {},
        });
        return reply.header("Cache-Control", "no-store").send({ wsid: r.wsid });
      },
    );

    app.post<{ Params: { wsid: string; action: Action }; Body: Static<typeof ActionBody> }>(
      `${HUB_WORKSPACES_PATH}/:wsid/:action`,
      { schema: { params: Params, body: ActionBody } },
      async (request, reply) => {
        const { type, needs } = ACTIONS[request.params.action];
        const data: Record<string, unknown> = { by: by(request), wsid: request.params.wsid };
        if (needs) {
          const value = request.body?.[needs];
          if (value === undefined)
            return reply.code(400).send({
              code: "ERR_COMMAND_INVALID",
              message: `${request.params.action} needs a ${needs}`,
            });
          data[needs] = value;
        }
        const r = await ask(type, data, ACTION_TIMEOUT_MS);
        return reply
          .header("Cache-Control", "no-store")
          .send({ ok: true, ...(r.snapshots && { snapshots: r.snapshots }) });
      },
    );
  },
  { name: "hub-workspaces", dependencies: ["auth"] },
);
