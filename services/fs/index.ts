/**
 * The fs service: file access for everyone (web app, later editor, agents, launchpad) as
 * request/reply on `ws.<wsid>.req.fs`, and the ops that change no file also on
 * `ws.<wsid>.read.fs` (all that a hosted workspace's viewer may send). Every mutation publishes an event on WS_FS
 * (`ws.<wsid>.fs.<kind>`) after it happened on disk (the disk is the truth for files);
 * changes inside watched directories go out on the live feed `ws.<wsid>.feed.fs` (core
 * NATS, not stored). Requests are handled concurrently; a slow copy does not hold up a listing.
 */
import { homedir } from "node:os";
import type { Msg } from "@nats-io/nats-core";
import { EventRegistry, envelope, type Uncommitted } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import type { TransferRequest } from "../../shared/file-transfer.js";
import {
  FS_READ_OPS,
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
import { type RunningService, runningService, type ServiceDefinition } from "../runtime/service.js";
import { UploadJournal } from "../runtime/upload-journal.js";
import { answer } from "./answer.js";
import { type ContainerFiles, ContainerPaths } from "./container.js";
import { FileOperations } from "./operations.js";
import { serveTransfers } from "./transfer-server.js";
import { FileTransfers, type TransferAnswer } from "./transfers.js";
import { DirectoryWatches } from "./watches.js";
import { FsWorker, type RunAs } from "./worker-client.js";

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
  /**
   * The file operations run in a worker process with these credentials (a container
   * workspace's user as the host sees it), so they can do exactly what that user may.
   */
  runAs?: RunAs;
  /** Rewrites error answers' messages (a container workspace's: no host paths). */
  hidePaths?: (message: string) => string;
  /**
   * Where uploads over NATS in progress are recorded (a directory only the service reads), so
   * a restart removes the temp files of those that never ended.
   */
  uploadJournal?: string;
}

/** What does the file operations: in this process, or in a worker with other credentials. */
interface FileBackend {
  home: string;
  sandbox: string | null;
  answer(r: FsRequest): Promise<unknown>;
  /** An upload or download request (shared/file-transfer.ts). */
  transfer(r: TransferRequest, bytes: Uint8Array): Promise<TransferAnswer>;
  /** Removes an abandoned upload's temp file (named by the journal). */
  removeTemp(path: string): Promise<void>;
  /** Settles (with the reason) when the backend is gone on its own. */
  gone: Promise<string>;
  stop(): Promise<void>;
}

export type { ContainerFiles, ContainerMount } from "./container.js";
export type { RunAs } from "./worker-client.js";

async function answerInContainer(
  backend: FileBackend,
  container: ContainerPaths,
  r: FsRequest,
): Promise<unknown> {
  if (r.op === "info") return { home: container.c.home, sandbox: null };
  return container.reply(await backend.answer(await container.request(r)));
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
      const actor = opts.actor ?? "user";
      const feed = subjects.feed(FS_SERVICE);
      const publishChange = (change: FsChange) =>
        ctx.nc.publish(feed, JSON.stringify(container ? container.reply(change) : change));
      const emit = async (e: Uncommitted<FsEvent>) => {
        const def = FsEvents.find((d) => d.type === e.type)!;
        const data = container ? container.reply(e.data) : e.data;
        const ev = envelope(def, data, { actor, at: ctx.now() });
        fsRegistry.check(ev);
        try {
          await publishEvent(ctx.js, subjects.fsEvent(FsEventKinds[e.type]), ev);
        } catch (err) {
          // The change is on disk already; a missing event must not turn it into a failure.
          ctx.log.warn({ type: e.type, err }, "file event not published");
        }
      };
      const home = container?.hostHome ?? opts.home ?? homedir();
      let backend: FileBackend;
      if (opts.runAs) {
        const worker = await FsWorker.start({
          runAs: opts.runAs,
          home,
          ...(opts.sandbox !== undefined && { sandbox: opts.sandbox }),
          hideOutside: container !== undefined,
          log: ctx.log,
          emit,
          change: publishChange,
        });
        backend = {
          home: worker.home,
          sandbox: worker.sandbox,
          answer: (r) => worker.answer(r),
          transfer: (r, bytes) => worker.transfer(r, bytes),
          removeTemp: (path) => worker.removeTemp(path),
          gone: worker.exited,
          stop: () => worker.stop(),
        };
      } else {
        const resolver = await PathResolver.create({
          home,
          ...(opts.sandbox !== undefined && { sandbox: opts.sandbox }),
          // A container's people do not see where a symlink leads on the host.
          hideOutside: container !== undefined,
        });
        const watches = new DirectoryWatches({ log: ctx.log, publish: publishChange });
        const ops = new FileOperations(resolver, watches, emit);
        const transfers = new FileTransfers(resolver, emit, ctx.log);
        backend = {
          home: resolver.home,
          sandbox: resolver.sandbox,
          answer: (r) => answer(ops, r),
          transfer: (r, bytes) => transfers.answer(r, bytes.length > 0 ? [bytes] : []),
          removeTemp: (path) => transfers.removeTemp(path),
          gone: new Promise<string>(() => undefined),
          async stop() {
            await transfers.stop();
            watches.stop();
            ops.listings.clear();
            ops.searches.clear();
          },
        };
      }
      const inflight = new Set<Promise<void>>();

      const respond = async (m: Msg, readOnly: boolean) => {
        let op: string | undefined;
        let reply: FsReply;
        try {
          const r = parseFsRequest(m.data);
          op = r.op;
          if (readOnly && !FS_READ_OPS.has(r.op))
            throw new CocalcError(
              "ERR_FS_REQUEST",
              `${r.op} changes files: it is not answered on the read-only subject`,
            );
          const result = container
            ? await answerInContainer(backend, container, r)
            : await backend.answer(r);
          reply = { ok: true, result: result as never };
        } catch (err) {
          logFailure(ctx.log, op, err);
          const error = toErrorPayload(err);
          if (opts.hidePaths) error.message = opts.hidePaths(error.message);
          reply = { ok: false, error };
        }
        if (m.reply) m.respond(JSON.stringify(reply));
      };

      let crash!: (err: unknown) => void;
      const crashed = new Promise<never>((_, reject) => (crash = reject));
      let journal: UploadJournal | undefined;
      if (opts.uploadJournal) {
        journal = await UploadJournal.open(opts.uploadJournal);
        const removed = await journal.sweep((path) => backend.removeTemp(path));
        if (removed > 0) ctx.log.info({ removed }, "temp files of unfinished uploads removed");
      }
      const transfers = serveTransfers({
        nc: ctx.nc,
        wsid: ctx.wsid,
        log: ctx.log,
        transfer: (r, bytes) => backend.transfer(r, bytes),
        ...(container && { container }),
        ...(journal && { journal }),
        ...(opts.hidePaths && { hidePaths: opts.hidePaths }),
        failed: (err) => crash(err),
      });
      // Everything on req.fs; on read.fs only what changes no file (what a viewer may ask).
      const serve = (subject: string, readOnly: boolean) =>
        ctx.nc.subscribe(subject, {
          queue: subject,
          callback: (err, m) => {
            if (err) {
              crash(err);
              return;
            }
            const p = respond(m, readOnly).finally(() => inflight.delete(p));
            inflight.add(p);
          },
        });
      const subs = [
        serve(subjects.request(FS_SERVICE), false),
        serve(subjects.read(FS_SERVICE), true),
      ];
      ctx.log.info(
        { home: backend.home, sandbox: backend.sandbox, uid: opts.runAs?.uid },
        "fs service ready",
      );
      let stopping = false;
      const workerGone = backend.gone.then((why) => {
        if (!stopping) throw new Error(why);
      });
      const requests = {
        done: Promise.race(subs.map((sub) => sub.closed)),
        async stop() {
          stopping = true;
          for (const sub of subs) if (!sub.isClosed()) await sub.drain();
        },
      };
      // A crash or a dead worker stops the requests too, and the worker goes with them.
      return runningService(
        [requests, transfers],
        async () => {
          stopping = true;
          await Promise.allSettled([...inflight]);
          await backend.stop();
        },
        Promise.race([crashed, workerGone]),
      );
    },
  };
}
