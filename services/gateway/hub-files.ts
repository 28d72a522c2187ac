/**
 * Uploads and downloads of a hosted workspace, through the hub: the same requests and answers
 * as plus's (files.ts), under `/api/hub/ws/<wsid>/files/…`, carried over NATS to the
 * workspace's fs service on its host (runtime/transfer-client.ts), which does them as the workspace's
 * user. The gateway acts for the signed-in account: a member may download, only an owner or
 * collaborator may upload; anyone else hears that there is no such workspace.
 *
 * - `PUT …/upload?dir=D&name=N&conflict=fail|replace|rename`: streamed in chunks; the file is
 *   put at its name only once complete; a browser that goes away leaves nothing.
 * - `GET …/download?path=P`: a file with Range support, a folder as a tar archive; a plain
 *   link may open it with a signed single-use `link` (HUB_DOWNLOAD_LINK).
 *
 * Register after authPlugin.
 */
import type { IncomingMessage } from "node:http";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply } from "fastify";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import { UploadConflicts } from "../../shared/file-transfer.js";
import { type Membership, WorkspaceRoles } from "../../shared/hub-permissions.js";
import type { Logger } from "../runtime/logger.js";
import { TransferClient } from "../runtime/transfer-client.js";
import type { BrowserSessions } from "./browser-sessions.js";
import { contentDisposition, contentType, parseRange } from "./files.js";
import { accountOfRequest } from "./hub-auth.js";

/** The upload and download routes of workspace `wsid`. */
export const hubFilesPaths = (wsid: string) => ({
  upload: `/api/hub/ws/${wsid}/files/upload`,
  download: `/api/hub/ws/${wsid}/files/download`,
});

/** The GET routes a signed link may open: a workspace's downloads. */
export const HUB_DOWNLOAD_LINK = /^\/api\/hub\/ws\/[A-Za-z0-9_-]{1,64}\/files\/download$/;

export interface HubFilesOptions {
  nc: NatsConnection;
  sessions: BrowserSessions;
  /** The account's membership of workspace `wsid`, or undefined when it has none. */
  membership(account: string, wsid: string): Promise<Membership | undefined>;
  log: Logger;
}

const Params = Type.Object({ wsid: Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" }) });
const UploadQuery = Type.Object({
  dir: Type.String({ minLength: 1, maxLength: 4096 }),
  name: Type.String({ minLength: 1, maxLength: 4096 }),
  conflict: Type.Optional(Type.Union(UploadConflicts.map((c) => Type.Literal(c)))),
});
const DownloadQuery = Type.Object({
  path: Type.String({ minLength: 1, maxLength: 4096 }),
});

/** Encapsulated (not fastify-plugin): its body parsing applies to its own routes only. */
export async function hubFilesPlugin(app: FastifyInstance, opts: HubFilesOptions): Promise<void> {
  {
    const { log } = opts;

    /** The workspace's client for the signed-in account, if its role allows `need`. */
    const reach = async (
      request: Parameters<typeof accountOfRequest>[1],
      wsid: string,
      need: "read" | "write",
    ): Promise<TransferClient> => {
      const account = accountOfRequest(opts.sessions, request);
      const m = await opts.membership(account, wsid);
      if (!m) throw new CocalcError("ERR_WORKSPACE_NOT_FOUND", `no workspace ${wsid} of yours`);
      if (need === "write" && m.role === WorkspaceRoles.viewer)
        throw new CocalcError(
          "ERR_HUB_FORBIDDEN",
          "a viewer of this workspace may download its files, not upload",
        );
      if (m.hostId === undefined)
        throw new CocalcError(
          "ERR_WORKSPACE_STATE",
          "the workspace has no host yet: start it, then try again",
        );
      return new TransferClient(opts.nc, wsid);
    };

    const fail = (reply: FastifyReply, err: unknown) => {
      const payload = toErrorPayload(err);
      if (payload.code === "ERR_INTERNAL") log.error({ err }, "hub file request failed");
      if (reply.raw.destroyed || reply.sent) return reply;
      for (const h of ["content-disposition", "content-length", "accept-ranges", "last-modified"])
        reply.removeHeader(h);
      return reply
        .code(err instanceof CocalcError ? err.status : 500)
        .header("Cache-Control", "no-store")
        .type("application/json; charset=utf-8")
        .send(JSON.stringify(payload));
    };

    // Upload bodies are streamed on by the handler, never parsed or buffered.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", (_request, _payload, done) => done(null));

    app.put<{ Params: Static<typeof Params>; Querystring: Static<typeof UploadQuery> }>(
      "/api/hub/ws/:wsid/files/upload",
      { schema: { params: Params, querystring: UploadQuery } },
      async (request, reply) => {
        const raw: IncomingMessage = request.raw;
        const { wsid } = request.params;
        const { dir, name } = request.query;
        const conflict = request.query.conflict ?? "fail";
        try {
          const client = await reach(request, wsid, "write");
          const expected = raw.headers["content-length"];
          const length = expected === undefined ? undefined : Number(expected);
          const { result } = await client.ask({ op: "upload", dir, name, conflict });
          let size: number;
          try {
            size = await client.sendBody(raw, result.id);
            if (length !== undefined && size !== length)
              throw new CocalcError(
                "ERR_FS_UPLOAD_INCOMPLETE",
                `${name}: ${size} of ${length} bytes arrived`,
              );
          } catch (err) {
            await client.ask({ op: "abort", id: result.id }).catch(() => undefined);
            if ((err as { code?: string }).code === "ECONNRESET") {
              log.info({ wsid, name }, "upload cancelled; nothing kept");
              throw new CocalcError(
                "ERR_FS_UPLOAD_INCOMPLETE",
                `${name}: the upload was cancelled`,
              );
            }
            // The host refused a chunk: the rest of the body is read and dropped, so the
            // browser still hears why.
            raw.resume();
            throw err;
          }
          const placed = await client.ask({ op: "finish", id: result.id, size });
          return reply.code(201).header("Cache-Control", "no-store").send(placed.result);
        } catch (err) {
          return fail(reply, err);
        }
      },
    );

    app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof DownloadQuery> }>(
      "/api/hub/ws/:wsid/files/download",
      { schema: { params: Params, querystring: DownloadQuery } },
      async (request, reply) => {
        const { wsid } = request.params;
        try {
          const client = await reach(request, wsid, "read");
          const { result: info } = await client.ask({ op: "download", path: request.query.path });
          reply.header("Cache-Control", "no-store");
          // A downloaded file must never run as a page of this origin.
          reply.header("Content-Security-Policy", "sandbox");
          reply.header("Content-Disposition", contentDisposition(info.name));
          if (info.kind === "dir")
            return reply.type("application/x-tar").send(client.stream(info.id, 0, undefined));
          const size = info.size ?? 0;
          const range = parseRange(request.headers.range, size);
          reply
            .header("Accept-Ranges", "bytes")
            .header("Last-Modified", new Date(info.mtime ?? 0).toUTCString())
            .type(contentType(info.name));
          if (range === null) {
            await client.ask({ op: "close", id: info.id }).catch(() => undefined);
            reply.header("Content-Range", `bytes */${size}`);
            throw new CocalcError("ERR_FS_RANGE", `${info.name} has ${size} bytes`);
          }
          const { start, end } = range ?? { start: 0, end: size - 1 };
          if (range) reply.code(206).header("Content-Range", `bytes ${start}-${end}/${size}`);
          reply.header("Content-Length", String(Math.max(0, end - start + 1)));
          if (size === 0) {
            await client.ask({ op: "close", id: info.id }).catch(() => undefined);
            return reply.send("");
          }
          return reply.send(client.stream(info.id, start, end));
        } catch (err) {
          return fail(reply, err);
        }
      },
    );
  }
}
