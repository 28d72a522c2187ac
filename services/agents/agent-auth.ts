/**
 * Signing in to an agent through ACP: the ways its `initialize` answer offers (`authMethods`),
 * `authenticate` with a stored API key before a session starts, and the words of an
 * authentication failure that name what the user can do.
 */
import type * as acp from "@agentclientprotocol/sdk";
import type { AgentAuthMethod } from "../../shared/agents.js";
import { CocalcError } from "../../shared/errors.js";
import { acpSdk } from "./acp-sdk.js";
import type { AgentProcess } from "./agent-process.js";

/** What the SDK's stable schema does not type yet: env_var methods and `_meta` terminal auth. */
interface RawAuthMethod {
  id?: unknown;
  name?: unknown;
  description?: unknown;
  type?: unknown;
  vars?: unknown;
  args?: unknown;
  _meta?: { "terminal-auth"?: { command?: unknown; args?: unknown } } | null;
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

/** The agent's sign-in methods, in its order, read defensively (an agent may send anything). */
export function authMethodsOf(
  init: acp.InitializeResponse | undefined,
  agentArgv: readonly string[],
): AgentAuthMethod[] {
  const raw = (init?.authMethods ?? []) as unknown as RawAuthMethod[];
  const out: AgentAuthMethod[] = [];
  for (const m of Array.isArray(raw) ? raw.slice(0, 20) : []) {
    if (typeof m?.id !== "string" || typeof m.name !== "string") continue;
    const base = {
      id: m.id.slice(0, 200),
      name: m.name.slice(0, 200),
      ...(typeof m.description === "string" && { description: m.description.slice(0, 1000) }),
    };
    if (m.type === "env_var") {
      const vars = (Array.isArray(m.vars) ? m.vars : [])
        .map((v) => (v as { name?: unknown })?.name)
        .filter((n): n is string => typeof n === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(n));
      if (vars.length > 0) out.push({ ...base, kind: "key", vars });
      continue;
    }
    if (m.type === "terminal") {
      out.push({ ...base, kind: "terminal", command: [...agentArgv, ...strings(m.args)] });
      continue;
    }
    const terminal = m._meta?.["terminal-auth"];
    if (terminal && typeof terminal.command === "string") {
      out.push({
        ...base,
        kind: "terminal",
        command: [terminal.command, ...strings(terminal.args)],
      });
      continue;
    }
    out.push({ ...base, kind: "agent" });
  }
  return out;
}

/** The first key method whose variables are all set in `env`. */
export function keyMethodFor(
  methods: readonly AgentAuthMethod[],
  env: Record<string, string | undefined>,
): AgentAuthMethod | undefined {
  return methods.find(
    (m) => m.kind === "key" && (m.vars ?? []).every((v) => (env[v] ?? "") !== ""),
  );
}

/**
 * Authenticates with a stored key when the agent offers a key method for one: agents such as
 * codex-acp need `authenticate` even when the key is in their environment. Returns the method
 * used, none when no stored key fits (the agent may still have its own login).
 */
export async function authenticateWithKey(
  proc: AgentProcess,
  methods: readonly AgentAuthMethod[],
  env: Record<string, string | undefined>,
  timeoutMs: number,
): Promise<string | undefined> {
  const method = keyMethodFor(methods, env);
  if (!method) return undefined;
  try {
    await proc.within(
      proc.connection.agent.request(acpSdk().methods.agent.authenticate, { methodId: method.id }),
      timeoutMs,
      "authenticate",
      "ERR_AGENT_AUTH",
    );
  } catch (err) {
    if (!proc.alive) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new CocalcError(
      "ERR_AGENT_AUTH",
      `the agent did not accept ${method.vars!.join(" and ")} (${method.name}): ${why}`,
    );
  }
  return method.id;
}

/** What a user can do when the agent wants credentials, in the words of its methods. */
export function signInAdvice(methods: readonly AgentAuthMethod[]): string {
  const keys = [...new Set(methods.flatMap((m) => (m.kind === "key" ? (m.vars ?? []) : [])))];
  const interactive = methods.filter((m) => m.kind !== "key").map((m) => `"${m.name}"`);
  const ways: string[] = [];
  if (keys.length > 0)
    ways.push(
      `store ${keys.join(" or ")} as an API key (Settings → Agent defaults, or the thread's settings)`,
    );
  if (interactive.length > 0) ways.push(`use Sign in in the thread (${interactive.join(", ")})`);
  if (ways.length === 0)
    return "Set the agent's API key in the agent settings, or log in with its own CLI.";
  return `To sign in: ${ways.join(", or ")}.`;
}
