/**
 * The file operations of an fs service in a process of their own, running with the
 * credentials of the user they act for (a container workspace's user, as the host sees it):
 * the kernel then allows exactly what that user may do, so a root-owned file of the
 * workspace's root file system stays out of reach, and what is created belongs to the user.
 *
 * Started by `FsWorker` (worker-client.ts) with an IPC channel and a socket for the bytes of
 * uploads (worker-bytes.ts, fd 4: inherited from the service, it reaches no file). Everything
 * it needs is loaded before it gives up root (a dropped process may not be able to read the
 * package), and nothing is opened before: a descriptor opened as root would keep root's access.
 */
import { Socket } from "node:net";
import pino from "pino";
import type { Uncommitted } from "../../shared/envelope.js";
import { toErrorPayload } from "../../shared/errors.js";
import type { TransferRequest } from "../../shared/file-transfer.js";
import type { FsChange, FsEvent, FsRequest } from "../../shared/files.js";
import { PathResolver } from "../runtime/paths.js";
import { answer } from "./answer.js";
import { FileOperations } from "./operations.js";
import { FileTransfers } from "./transfers.js";
import { DirectoryWatches } from "./watches.js";
import { WORKER_BYTES_FD, WorkerBytesReader } from "./worker-bytes.js";
import type { FromWorker, ToWorker } from "./worker-protocol.js";

const send = (m: FromWorker) => process.send?.(m);

/** Gives up root for good: no supplementary groups, then gid, then uid (all of real, effective, saved). */
function becomeUser(uid: number, gid: number): void {
  if (process.getuid?.() === uid && process.getgid?.() === gid) return;
  process.setgroups?.([]);
  process.setgid?.(gid);
  process.setuid?.(uid);
  if (process.getuid?.() !== uid || process.geteuid?.() !== uid || process.getegid?.() !== gid)
    throw new Error(`could not become uid ${uid} gid ${gid}`);
  if ((process.getgroups?.() ?? []).some((g) => g !== gid))
    throw new Error("supplementary groups were not dropped");
}

async function main(): Promise<void> {
  const log = pino({ base: { pid: process.pid, component: "fs-worker" } }, pino.destination(2));
  let ops: FileOperations | undefined;
  let watches: DirectoryWatches | undefined;
  let transfers: FileTransfers | undefined;
  let nextEmit = 0;
  const emitted = new Map<number, () => void>();
  const bytes = new WorkerBytesReader(
    new Socket({ fd: WORKER_BYTES_FD, readable: true, writable: false }),
  );

  const emit = (event: Uncommitted<FsEvent>) =>
    new Promise<void>((resolve) => {
      const n = nextEmit++;
      emitted.set(n, resolve);
      send({ type: "event", n, event });
    });

  const handle = async (m: ToWorker): Promise<void> => {
    switch (m.type) {
      case "init": {
        try {
          becomeUser(m.uid, m.gid);
          const resolver = await PathResolver.create({
            home: m.home,
            ...(m.sandbox !== undefined && { sandbox: m.sandbox }),
            ...(m.hideOutside && { hideOutside: true }),
          });
          watches = new DirectoryWatches({
            log,
            publish: (change: FsChange) => send({ type: "change", change }),
          });
          ops = new FileOperations(resolver, watches, emit);
          transfers = new FileTransfers(resolver, emit, log);
          send({ type: "ready", home: resolver.home, sandbox: resolver.sandbox });
        } catch (err) {
          send({ type: "failed", message: String((err as Error).message ?? err) });
          process.exit(1);
        }
        return;
      }
      case "request": {
        try {
          if (!ops) throw new Error("the fs worker is not initialised");
          const result = await answer(ops, m.request as FsRequest);
          send({ type: "reply", id: m.id, ok: true, result });
        } catch (err) {
          const error = toErrorPayload(err);
          if (error.code === "ERR_INTERNAL") log.error({ err }, "fs request failed");
          send({ type: "reply", id: m.id, ok: false, error });
        }
        return;
      }
      case "transfer":
      case "remove-temp": {
        try {
          if (!transfers) throw new Error("the fs worker is not initialised");
          if (m.type === "remove-temp") {
            await transfers.removeTemp(m.path);
            send({ type: "reply", id: m.id, ok: true, result: null });
            return;
          }
          const pieces = m.bytes > 0 ? await bytes.take(m.id) : [];
          const { bytes: read, ...answer } = await transfers.answer(
            m.request as TransferRequest,
            pieces,
          );
          send({ type: "reply", id: m.id, ok: true, result: answer, ...(read && { bytes: read }) });
        } catch (err) {
          const error = toErrorPayload(err);
          if (error.code === "ERR_INTERNAL") log.error({ err }, "fs transfer failed");
          send({ type: "reply", id: m.id, ok: false, error });
        }
        return;
      }
      case "emitted":
        emitted.get(m.n)?.();
        emitted.delete(m.n);
        return;
      case "stop":
        await transfers?.stop();
        watches?.stop();
        ops?.listings.clear();
        ops?.searches.clear();
        process.disconnect?.();
        return;
      default: {
        const never: never = m;
        log.warn({ m: never }, "unknown message");
      }
    }
  };

  process.on("message", (m: ToWorker) => void handle(m));
  // The service is gone: nothing more to do for anyone.
  process.on("disconnect", () => process.exit(0));
}

void main();
