/**
 * Agents' API keys where the hub keeps them (a hosted workspace): the signed-in account's,
 * and the workspace's for its owners. Only names come back.
 */
import type { AgentKeyNames, AgentKeyScope } from "../../../shared/hub-agent-keys.js";
import { apiFetch } from "./session.js";

export type { AgentKeyNames, AgentKeyScope };

/** The path of the hub's agent keys API (services/gateway/hub-agent-keys.ts). */
const PATH = "/api/hub/agent-keys";

export interface AgentKeyStore {
  names(): Promise<AgentKeyNames>;
  /** Sets (empty: removes) a key; the names after. Throws with the hub's message. */
  set(scope: AgentKeyScope, name: string, value: string): Promise<AgentKeyNames>;
}

async function namesOf(res: Response): Promise<AgentKeyNames> {
  const body = (await res.json().catch(() => ({}))) as { names?: AgentKeyNames; message?: string };
  if (!res.ok || !body.names) throw new Error(body.message ?? `the hub answered ${res.status}`);
  return body.names;
}

export function hubAgentKeys(wsid: string): AgentKeyStore {
  return {
    names: async () =>
      namesOf(await apiFetch(`${PATH}?${new URLSearchParams({ wsid })}`, { cache: "no-store" })),
    set: async (scope, name, value) =>
      namesOf(
        await apiFetch(PATH, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ scope, wsid, name, value }),
        }),
      ),
  };
}
