/**
 * Agents' API keys on a host joined to a hub: the hub keeps them (services/hub/agent-keys.ts)
 * and gives the keys of the account a turn is submitted by, for a workspace placed on this
 * host, when the turn starts. They go into the agent's environment inside the container and
 * are kept nowhere on the host.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { request } from "../../shared/command-client.js";
import { CocalcError } from "../../shared/errors.js";
import type { HostKeysReply } from "../../shared/hub-agent-keys.js";
import { hostSubjects } from "../../shared/subjects.js";

const KEYS_TIMEOUT_MS = 15_000;

/** The keys of turns submitted by `by` in `wsid`: none for a turn of no account. */
export function hubTurnKeys(
  nc: NatsConnection,
  hostId: string,
  wsid: string,
): (by: string) => Promise<Record<string, string>> {
  return async (by) => {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(by) || by === "user") return {};
    const r = await request<Extract<HostKeysReply, { ok: true }>>(
      nc,
      hostSubjects(hostId).agentKeys,
      { wsid, account: by },
      {
        timeoutMs: KEYS_TIMEOUT_MS,
        unanswered: (err) =>
          new CocalcError(
            "ERR_AGENT_KEYS_AT_HUB",
            `the hub did not give this turn's API keys: ${(err as Error).message}`,
          ),
      },
    );
    return r.env;
  };
}
