/**
 * The dashboard's workspace actions over HTTP: create (with the images and limits it may
 * choose from), start, stop, rename, delete, snapshots; sharing (members by email, their
 * roles, invite links, and accepting one). The signed-in account is the one that
 * asks; the hub's workspaces service (over NATS, `hubcmd.workspaces`) decides. What the
 * dashboard shows comes from views the page watches itself, not from here.
 * Register after authPlugin.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { WorkspaceRoles } from "../../shared/hub-permissions.js";
import {
  type HubWorkspaceReply,
  HubWorkspaceSubjects,
  WORKSPACE_INVITE_TTL,
} from "../../shared/hub-workspaces.js";
import { QuotaSchema } from "../../shared/launchpad.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { accountOfRequest, askHub } from "./hub-auth.js";

export const HUB_WORKSPACES_PATH = "/api/hub/workspaces";
/** Where a signed-in browser accepts a workspace invite link's token. */
export const HUB_JOIN_PATH = "/api/hub/join";

/** The sharing routes of workspace `wsid`. */
export function hubSharePaths(wsid: string) {
  const base = `${HUB_WORKSPACES_PATH}/${encodeURIComponent(wsid)}`;
  return {
    members: `${base}/members`,
    member: (account: string) => `${base}/members/${encodeURIComponent(account)}`,
    invites: `${base}/invites`,
    invite: (inviteId: string) => `${base}/invites/${encodeURIComponent(inviteId)}`,
    /** Public links of its apps' ports (services/gateway/hub-app-proxy.ts). */
    ports: `${base}/ports`,
    port: (port: number) => `${base}/ports/${port}`,
  } as const;
}

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
const IdPattern = "^[A-Za-z0-9_-]{1,64}$";
const Role = Type.Union(Object.values(WorkspaceRoles).map((r) => Type.Literal(r)));
const WsParams = Type.Object({ wsid: Type.String({ pattern: IdPattern }) });
const MemberParams = Type.Object({
  wsid: Type.String({ pattern: IdPattern }),
  account: Type.String({ pattern: IdPattern }),
});
const InviteParams = Type.Object({
  wsid: Type.String({ pattern: IdPattern }),
  inviteId: Type.String({ pattern: IdPattern }),
});
const AddMemberBody = Type.Object(
  { email: Type.String({ minLength: 3, maxLength: 254 }), role: Role },
  { additionalProperties: false },
);
const RoleBody = Type.Object({ role: Role }, { additionalProperties: false });
const InviteBody = Type.Object(
  {
    role: Role,
    ttlSeconds: Type.Optional(
      Type.Integer({ minimum: WORKSPACE_INVITE_TTL.min, maximum: WORKSPACE_INVITE_TTL.max }),
    ),
  },
  { additionalProperties: false },
);
const JoinBody = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 256 }) },
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

    const send = (reply: import("fastify").FastifyReply, body: object) =>
      reply.header("Cache-Control", "no-store").send(body);

    app.get<{ Params: Static<typeof WsParams> }>(
      `${HUB_WORKSPACES_PATH}/:wsid/members`,
      { schema: { params: WsParams } },
      async (request, reply) => {
        const r = await ask("ListHubMembers", { by: by(request), wsid: request.params.wsid });
        return send(reply, { members: r.members });
      },
    );
    app.post<{ Params: Static<typeof WsParams>; Body: Static<typeof AddMemberBody> }>(
      `${HUB_WORKSPACES_PATH}/:wsid/members`,
      { schema: { params: WsParams, body: AddMemberBody } },
      async (request, reply) => {
        const r = await ask("AddHubMember", {
          by: by(request),
          wsid: request.params.wsid,
          ...request.body,
        });
        return send(reply, { member: r.member });
      },
    );
    app.post<{ Params: Static<typeof MemberParams>; Body: Static<typeof RoleBody> }>(
      `${HUB_WORKSPACES_PATH}/:wsid/members/:account`,
      { schema: { params: MemberParams, body: RoleBody } },
      async (request, reply) => {
        await ask("ChangeHubMemberRole", {
          by: by(request),
          ...request.params,
          role: request.body.role,
        });
        return send(reply, { ok: true });
      },
    );
    app.delete<{ Params: Static<typeof MemberParams> }>(
      `${HUB_WORKSPACES_PATH}/:wsid/members/:account`,
      { schema: { params: MemberParams } },
      async (request, reply) => {
        await ask("RemoveHubMember", { by: by(request), ...request.params });
        return send(reply, { ok: true });
      },
    );
    app.post<{ Params: Static<typeof WsParams>; Body: Static<typeof InviteBody> }>(
      `${HUB_WORKSPACES_PATH}/:wsid/invites`,
      { schema: { params: WsParams, body: InviteBody } },
      async (request, reply) => {
        const r = await ask("CreateHubWorkspaceInvite", {
          by: by(request),
          wsid: request.params.wsid,
          role: request.body.role,
          ttlSeconds: request.body.ttlSeconds ?? WORKSPACE_INVITE_TTL.default,
        });
        return send(reply, { invite: r.invite });
      },
    );
    app.delete<{ Params: Static<typeof InviteParams> }>(
      `${HUB_WORKSPACES_PATH}/:wsid/invites/:inviteId`,
      { schema: { params: InviteParams } },
      async (request, reply) => {
        await ask("RevokeHubWorkspaceInvite", { by: by(request), ...request.params });
        return send(reply, { ok: true });
      },
    );
    app.post<{ Body: Static<typeof JoinBody> }>(
      HUB_JOIN_PATH,
      { schema: { body: JoinBody } },
      async (request, reply) => {
        const r = await ask("AcceptHubWorkspaceInvite", {
          by: by(request),
          token: request.body.token,
        });
        return send(reply, { joined: r.joined });
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
