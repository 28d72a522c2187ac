/**
 * Requests that are not events, on `ws.<wsid>.req.kernels`: the kernelspecs on the machine,
 * and completion and inspection from a running kernel. Each gets `{ ok, result }` or
 * `{ ok: false, error }`.
 */
import type { Msg, Subscription } from "@nats-io/nats-core";
import { Value } from "@sinclair/typebox/value";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  type KernelRequest,
  KernelRequestSchema,
  type KernelResults,
} from "../../shared/kernels.js";
import { ServiceNames, workspaceSubjects } from "../../shared/subjects.js";
import type { ServiceContext } from "../runtime/service.js";
import type { Kernelspec } from "./kernelspecs.js";
import type { RunningKernel } from "./running-kernel.js";

export interface RequestDeps {
  ctx: ServiceContext;
  /** The kernelspecs kernels start from (this machine's, or a container's). */
  kernelspecs(): Promise<Kernelspec[]>;
  /** The running kernel of `kid`, if this service runs one. */
  kernel(kid: string): RunningKernel | undefined;
}

/** Answers the kernels requests until the subscription is closed. */
export function serveKernelRequests(d: RequestDeps): Subscription {
  const subject = workspaceSubjects(d.ctx.wsid).request(ServiceNames.kernels);
  return d.ctx.nc.subscribe(subject, {
    queue: subject,
    callback: (err, m) => {
      if (!err) void respond(d, m);
    },
  });
}

async function respond(d: RequestDeps, m: Msg): Promise<void> {
  let reply: unknown;
  try {
    reply = { ok: true, result: await answer(d, parseRequest(m.data)) };
  } catch (err) {
    const error = toErrorPayload(err);
    if (error.code === "ERR_INTERNAL") d.ctx.log.error({ err }, "kernels request failed");
    reply = { ok: false, error };
  }
  if (m.reply) m.respond(JSON.stringify(reply));
}

function running(d: RequestDeps, kid: string): RunningKernel {
  const k = d.kernel(kid);
  if (!k) throw new CocalcError("ERR_KERNEL_NOT_FOUND", `no running kernel ${kid}`);
  return k;
}

async function answer(
  d: RequestDeps,
  r: KernelRequest,
): Promise<KernelResults[keyof KernelResults]> {
  switch (r.op) {
    case "kernelspecs":
      return {
        kernelspecs: (await d.kernelspecs()).map(({ name, displayName, language, dir }) => ({
          name,
          displayName,
          language,
          dir,
        })),
      };
    case "complete":
      return running(d, r.kid).complete(r.code, Math.min(r.cursorPos, r.code.length));
    case "inspect":
      return running(d, r.kid).inspect(
        r.code,
        Math.min(r.cursorPos, r.code.length),
        r.detailLevel ?? 0,
      );
    default: {
      const never: never = r;
      throw new Error(`unhandled op ${(never as { op: string }).op}`);
    }
  }
}

function parseRequest(raw: Uint8Array): KernelRequest {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new CocalcError("ERR_KERNEL_INVALID", "the request is not valid JSON");
  }
  if (!Value.Check(KernelRequestSchema, value)) {
    const err = Value.Errors(KernelRequestSchema, value).First();
    throw new CocalcError(
      "ERR_KERNEL_INVALID",
      `bad request at ${err?.path || "/"}: ${err?.message ?? "invalid"}`,
    );
  }
  return value;
}
