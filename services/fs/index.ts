/**
 * The fs service: file access for everyone (web app, later editor, agents, launchpad) as
 * request/reply on `ws.<wsid>.req.fs`. Every mutation publishes an event on WS_FS
 * (`ws.<wsid>.fs.<kind>`) after it happened on disk (the disk is the truth for files);
 * changes inside watched directories go out on the live feed `ws.<wsid>.feed.fs` (core
 * NATS, not stored). Requests are handled concurrently; a slow copy does not hold up a listing.
 */
import { homedir } from "node:os";
import type { Msg } from "@nats-io/nats-core";
import { EventRegistry, envelope, type Uncommitted } from "../../shared/envelope.js";
import { toErrorPayload } from "../../shared/errors.js";
import {
  type FsChange,
  type FsEvent,
  FsEventKinds,
  FsEvents,
  type FsReply,
  type FsRequest,
  parseFsRequest,
} from "../../shared/files.js";
import { ServiceNames, workspaceSubjects } from "../../shared/subjects.js";
import type { Logger } from "../runtime/logger.js";
import { PathResolver } from "../runtime/paths.js";
import { publishEvent } from "../runtime/publish.js";
import type { RunningService, ServiceDefinition } from "../runtime/service.js";
import { type ContainerFiles, ContainerPaths } from "./container.js";
import { FileOperations } from "./operations.js";
import { DirectoryWatches } from "./watches.js";

export const FS_SERVICE = ServiceNames.fs;
export const fsRegistry = new EventRegistry<FsEvent>(FsEvents);

export interface FsServiceOptions {
  /** The home directory (default: the user's). */
  home?: string;
  /** A sandbox root: nothing outside it can be reached. */
  sandbox?: string;
  /** Who the events name as their actor. */
  actor?: string;
  /**
   * A container workspace: requests and replies use the paths inside the container, mapped
   * onto these host directories (`sandbox` should hold them all; `home` is ignored).
   */
  container?: ContainerFiles;
}

export type { ContainerFiles, ContainerMount } from "./container.js";

async function answer(ops: FileOperations, r: FsRequest): Promise<unknown> {
  switch (r.op) {
    case "info":
      return ops.info();
    case "list":
      return ops.list(r);
    case "stat":
      return ops.stat(r.path);
    case "exists":
      return ops.exists(r);
    case "read":
      return ops.read(r);
    case "write":
      return ops.write(r);
    case "mkdir":
      return ops.mkdir(r);
    case "rename":
      return ops.rename(r.from, r.to);
    case "move":
      return ops.move(r);
    case "copy":
      return ops.copy(r);
    case "delete":
      return ops.delete(r);
    case "watch":
      return ops.watch(r);
    case "unwatch":
      return ops.unwatch(r);
    default: {
      const never: never = r;
      throw new Error(`unhandled fs op ${(never as { op: string }).op}`);
    }
  }
}

async function answerInContainer(
  ops: FileOperations,
  container: ContainerPaths,
  r: FsRequest,
): Promise<unknown> {
  if (r.op === "info") return { home: container.c.home, sandbox: null };
  const result = (await answer(ops, await container.request(r))) as Record<string, unknown>;
  switch (r.op) {
    case "write":
    case "mkdir":
      await container.claim(result.path as string, false);
      break;
    case "copy":
      for (const c of result.copied as { to: string }[]) await container.claim(c.to, true);
      break;
    default:
      break;
  }
  return container.reply(result);
}

function logFailure(log: Logger, op: string | undefined, err: unknown): void {
  const error = toErrorPayload(err);
  if (error.code === "ERR_INTERNAL") log.error({ op, err }, "fs request failed");
  else log.debug({ op, code: error.code, reason: error.message }, "fs request refused");
}

export function fsService(opts: FsServiceOptions = {}): ServiceDefinition {
  return {
    name: FS_SERVICE,
    durables: [],
    async start(ctx): Promise<RunningService> {
      const subjects = workspaceSubjects(ctx.wsid);
      const container = opts.container ? new ContainerPaths(opts.container) : undefined;
      const resolver = await PathResolver.create({
        home: container?.hostHome ?? opts.home ?? homedir(),
        ...(opts.sandbox !== undefined && { sandbox: opts.sandbox }),
      });
      const actor = opts.actor ?? "user";
      const feed = subjects.feed(FS_SERVICE);
      const watches = new DirectoryWatches({
        log: ctx.log,
        publish: (change: FsChange) =>
          ctx.nc.publish(feed, JSON.stringify(container ? container.reply(change) : change)),
      });
      const emit = async (e: Uncommitted<FsEvent>) => {
        const def = FsEvents.find((d) => d.type === e.type)!;
        const data = container ? container.reply(e.data) : e.data;
        const ev = envelope(def, data, { actor, at: ctx.now() });
        fsRegistry.check(ev);
        try {
          await publishEvent(ctx.js, subjects.fsEvent(FsEventKinds[e.type]), ev);
        } catch (err) {
          // The change is on disk already; a missing event must not turn it into a failure.
          ctx.log.warn({ type: e.type, err: String(err) }, "file event not published");
        }
      };
      const ops = new FileOperations(resolver, watches, emit);
      const inflight = new Set<Promise<void>>();

      const respond = async (m: Msg) => {
        let op: string | undefined;
        let reply: FsReply;
        try {
          const r = parseFsRequest(m.data);
          op = r.op;
          const result = container
            ? await answerInContainer(ops, container, r)
            : await answer(ops, r);
          reply = { ok: true, result: result as never };
        } catch (err) {
          logFailure(ctx.log, op, err);
          reply = { ok: false, error: toErrorPayload(err) };
        }
        if (m.reply) m.respond(JSON.stringify(reply));
      };

      let crash!: (err: unknown) => void;
      const crashed = new Promise<never>((_, reject) => (crash = reject));
      const sub = ctx.nc.subscribe(subjects.request(FS_SERVICE), {
        queue: subjects.request(FS_SERVICE),
        callback: (err, m) => {
          if (err) {
            crash(err);
            return;
          }
          const p = respond(m).finally(() => inflight.delete(p));
          inflight.add(p);
        },
      });
      ctx.log.info({ home: resolver.home, sandbox: resolver.sandbox }, "fs service ready");
      const done = Promise.race([sub.closed.then(() => undefined), crashed]);
      return {
        done,
        async stop() {
          await sub.drain();
          await Promise.allSettled([...inflight]);
          watches.stop();
          ops.listings.clear();
        },
      };
    },
  };
}
