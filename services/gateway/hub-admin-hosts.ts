/**
 * The admin pages' actions on hosts over HTTP: drain and undrain one (placement skips a
 * drained host; what runs there keeps running), list a host's images (read from its own
 * `images` view through its JetStream domain) and import one onto it from the hub's images
 * directory, with the host's progress streamed to the page as it comes (NDJSON: `{ line }`
 * lines, then `{ ok, … }`). Every action is the fleet's command, with the signed-in admin as
 * the one who acts (the events' actor). Register after authPlugin.
 */
import { PassThrough } from "node:stream";
import { jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { errorText, parseReply, request } from "../../shared/command-client.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import type { ImageSource, ImageView } from "../../shared/launchpad.js";
import { Buckets, FleetSubjects, hostDomain, Keys } from "../../shared/subjects.js";
import { requestWithProgress } from "../runtime/progress.js";
import { domainManager, viewValues } from "../runtime/remote-views.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { HUB_ADMIN_PATH, requireAdmin } from "./hub-admin.js";

export interface HubAdminHostsOptions {
  nc: NatsConnection;
  sessions: BrowserSessions;
}

const HostId = Type.String({ pattern: "^[A-Za-z0-9][-_A-Za-z0-9]{0,62}$" });
const DrainParams = Type.Object({
  hostId: HostId,
  action: Type.Union([Type.Literal("drain"), Type.Literal("undrain")]),
});
const PageQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
});
const ImportBody = Type.Object(
  {
    name: Type.String({ pattern: "^[A-Za-z0-9][-_A-Za-z0-9]{0,62}$" }),
    /** A rootfs directory of the hub's images directory (ListImageSources). */
    source: Type.String({ pattern: "^/", minLength: 1, maxLength: 4096 }),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);

/** An import copies a whole root file system: it may take long, as long as the host reports. */
const IMPORT_QUIET_MS = 10 * 60_000;

export const hubAdminHostsPlugin = fp<HubAdminHostsOptions>(
  async (app: FastifyInstance, opts: HubAdminHostsOptions) => {
    const { nc, sessions } = opts;
    // The hub's hosts view, opened once (on first use: the plugin registers before JetStream
    // is asked anything).
    let hostsView: Promise<KV> | undefined;
    const hosts = () => {
      hostsView ??= new Kvm(nc).open(Buckets.hosts);
      hostsView.catch(() => {
        hostsView = undefined;
      });
      return hostsView;
    };
    /** Whether the hub's hosts view has `hostId`. */
    const hostKnown = async (hostId: string): Promise<boolean> => {
      const key = Keys.host(hostId);
      try {
        const e = await (await hosts()).get(key);
        return e?.operation === "PUT" && e.length > 0;
      } catch {
        // nats-server 2.9 now and then refuses a direct get ("jetstream is not enabled"):
        // the stream's own message API answers the same question.
        const jsm = await jetstreamManager(nc);
        const m = await jsm.streams.getMessage(`KV_${Buckets.hosts}`, {
          last_by_subj: `$KV.${Buckets.hosts}.${key}`,
        });
        const op = m?.header?.get("KV-Operation");
        return m !== null && m.data.length > 0 && op !== "DEL" && op !== "PURGE";
      }
    };
    const fleet = <T extends object>(type: string, data: object) =>
      request<T>(
        nc,
        FleetSubjects.command,
        { type, data },
        {
          timeoutMs: 30_000,
          unanswered: () =>
            new CocalcError("ERR_HOST_OFFLINE", "the hub's fleet did not answer; try again"),
        },
      );
    const fresh = <R>(reply: { header(k: string, v: string): R }) =>
      reply.header("Cache-Control", "no-store");

    app.post<{ Params: Static<typeof DrainParams> }>(
      `${HUB_ADMIN_PATH}/hosts/:hostId/:action`,
      { schema: { params: DrainParams } },
      async (req, reply) => {
        const by = await requireAdmin(nc, sessions, req);
        const { hostId, action } = req.params;
        const r = await fleet<{ drainedAt: string | null }>(
          action === "drain" ? "DrainHost" : "UndrainHost",
          { hostId, by },
        );
        return fresh(reply).send({ hostId, drainedAt: r.drainedAt });
      },
    );

    app.get<{ Params: { hostId: string }; Querystring: Static<typeof PageQuery> }>(
      `${HUB_ADMIN_PATH}/hosts/:hostId/images`,
      { schema: { params: Type.Object({ hostId: HostId }), querystring: PageQuery } },
      async (req, reply) => {
        await requireAdmin(nc, sessions, req);
        const { hostId } = req.params;
        if (!(await hostKnown(hostId)))
          throw new CocalcError(
            "ERR_HOST_NOT_FOUND",
            `the hub has never heard host ${hostId} (it never joined, or never started)`,
          );
        let images: ImageView[];
        try {
          images = await viewValues<ImageView>(
            await domainManager(nc, hostDomain(hostId), 3000),
            Buckets.images,
          );
        } catch (err) {
          throw new CocalcError(
            "ERR_HOST_OFFLINE",
            `host ${hostId} did not answer, so its images cannot be listed now (${(err as Error).message})`,
          );
        }
        images.sort((a, b) => a.name.localeCompare(b.name));
        const offset = req.query.offset ?? 0;
        return fresh(reply).send({
          total: images.length,
          images: images.slice(offset, offset + (req.query.limit ?? 20)),
        });
      },
    );

    app.get(`${HUB_ADMIN_PATH}/image-sources`, async (req, reply) => {
      await requireAdmin(nc, sessions, req);
      const r = await fleet<{ result: ImageSource[] }>("ListImageSources", {});
      return fresh(reply).send({ sources: r.result });
    });

    app.post<{ Params: { hostId: string }; Body: Static<typeof ImportBody> }>(
      `${HUB_ADMIN_PATH}/hosts/:hostId/images`,
      { schema: { params: Type.Object({ hostId: HostId }), body: ImportBody } },
      async (req, reply) => {
        const by = await requireAdmin(nc, sessions, req);
        // Bad input is a plain refusal, before anything starts (the fleet checks it again).
        const sources = (await fleet<{ result: ImageSource[] }>("ListImageSources", {})).result;
        if (!sources.some((s) => s.path === req.body.source))
          throw new CocalcError(
            "ERR_HOST_IMAGE_SOURCE",
            `${req.body.source} is not one of the root file system directories of the hub's images directory`,
          );
        // From here on the answer is a stream: progress lines, then how it ended.
        const out = new PassThrough();
        const line = (v: object) => {
          if (!out.writableEnded) out.write(`${JSON.stringify(v)}\n`);
        };
        void requestWithProgress(
          nc,
          FleetSubjects.command,
          JSON.stringify({
            type: "ImportImageOnHost",
            data: { hostId: req.params.hostId, ...req.body, by },
          }),
          { timeoutMs: IMPORT_QUIET_MS, onProgress: (p) => line({ line: p.line }) },
        )
          .then((answer) => {
            const r = parseReply(answer.string());
            line(r.ok ? { ok: true } : { ok: false, error: r.error });
            if (!r.ok) req.log.info({ reason: errorText(r.error) }, "image import refused");
          })
          .catch((err: unknown) =>
            line({
              ok: false,
              error: toErrorPayload(
                new CocalcError(
                  "ERR_HOST_OFFLINE",
                  `the import was not heard from for a while, or could not be sent: ${(err as Error).message}`,
                ),
              ),
            }),
          )
          .finally(() => out.end());
        return fresh(reply).type("application/x-ndjson; charset=utf-8").send(out);
      },
    );
  },
  { name: "hub-admin-hosts", dependencies: ["auth"] },
);
