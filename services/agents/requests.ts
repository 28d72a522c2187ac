/**
 * Requests that are not thread events, on the service's request subject: installed agents,
 * API keys, permission answers and reverting files. Each gets `{ ok, result }` or
 * `{ ok: false, error }`.
 */
import type { Msg, Subscription } from "@nats-io/nats-core";
import { Value } from "@sinclair/typebox/value";
import { type AgentRequest, AgentRequestSchema, type AgentResults } from "../../shared/agents.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import { workspaceSubjects } from "../../shared/subjects.js";
import type { ServiceContext } from "../runtime/service.js";
import type { AgentKeys } from "./pool.js";
import type { TurnReverts } from "./revert.js";
import type { SignIns } from "./sign-in.js";
import { AGENTS_SERVICE } from "./threads.js";
import type { TurnRunner } from "./turn-runner.js";

export interface RequestDeps {
  ctx: ServiceContext;
  runner: TurnRunner;
  keys: AgentKeys;
  /** Turns get their keys from the hub (a joined launchpad host): none are kept here. */
  keysAtHub: boolean;
  reverts: TurnReverts;
  signIns: SignIns;
  /** Rewrites error answers' messages (a container workspace's: no host paths). */
  hidePaths?: (message: string) => string;
}

/** Answers the service's requests until the subscription is closed. */
export function serveRequests(d: RequestDeps): Subscription {
  const subject = workspaceSubjects(d.ctx.wsid).request(AGENTS_SERVICE);
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
    if (error.code === "ERR_INTERNAL") d.ctx.log.error({ err }, "agents request failed");
    if (d.hidePaths) error.message = d.hidePaths(error.message);
    reply = { ok: false, error };
  }
  if (m.reply) m.respond(JSON.stringify(reply));
}

async function answer(d: RequestDeps, r: AgentRequest): Promise<AgentResults[keyof AgentResults]> {
  switch (r.op) {
    case "detect":
      return { agents: await d.runner.pool.detect() };
    case "keys":
      return { names: d.keysAtHub ? [] : await d.keys.names() };
    case "setKey":
      if (d.keysAtHub)
        throw new CocalcError(
          "ERR_AGENT_KEYS_AT_HUB",
          "this workspace's agents get the API keys of the account that submits a turn: set them in your account's agent keys",
        );
      return { names: await d.keys.set(r.name, r.value) };
    case "answer":
      d.runner.answer(r.thread, r.turn, r.request, r.optionId);
      return { answered: true };
    case "revert":
      await d.reverts.revertFile(r.thread, r.turn, r.path);
      return { reverted: true };
    case "revertTurn":
      return { reverted: await d.reverts.revertTurn(r.thread, r.turn, r.force) };
    case "signIn":
      await d.signIns.start(r.room, r.thread, r.method);
      return { started: true };
    case "signInCallback":
      return { relayed: true, ...(await d.signIns.callback(r.thread, r.url)) };
    case "signInCancel":
      return { cancelled: await d.signIns.cancel(r.thread) };
    default: {
      const never: never = r;
      throw new Error(`unhandled op ${(never as { op: string }).op}`);
    }
  }
}

function parseRequest(raw: Uint8Array): AgentRequest {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new CocalcError("ERR_AGENT_REQUEST", "the request is not valid JSON");
  }
  if (!Value.Check(AgentRequestSchema, value)) {
    const err = Value.Errors(AgentRequestSchema, value).First();
    throw new CocalcError(
      "ERR_AGENT_REQUEST",
      `bad request at ${err?.path || "/"}: ${err?.message ?? "invalid"}`,
    );
  }
  return value;
}
