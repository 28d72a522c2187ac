/**
 * Agents' API keys in launchpad: kept by the hub, sealed at rest, per account and (for its
 * owners) per workspace. People set them through the hub's gateway (`hubcmd.agentkeys`, from
 * the hub's own services only) and see only their names; a host asks for the keys of the
 * account a turn runs for when it starts the agent (`hostkeys.<hostId>`, answered on the
 * host's inbox), and puts them in the agent's environment inside the container.
 */
import { type Static, Type } from "@sinclair/typebox";
import { EnvName } from "./agents.js";
import { defineCommand } from "./commands.js";
import type { ErrorPayload } from "./errors.js";

const Id = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });

export const HubAgentKeySubjects = {
  /** Requests from the hub's gateway for the account that is signed in there. */
  command: "hubcmd.agentkeys",
} as const;

/** At most this many keys per account, and per workspace. */
export const MAX_AGENT_KEYS = 32;

export const AgentKeyScopes = ["account", "workspace"] as const;
export type AgentKeyScope = (typeof AgentKeyScopes)[number];

export const ListAgentKeys = defineCommand(
  "ListAgentKeys",
  Type.Object({ by: Id, wsid: Type.Optional(Id) }, { additionalProperties: false }),
);
export const SetAgentKey = defineCommand(
  "SetAgentKey",
  Type.Object(
    {
      by: Id,
      scope: Type.Union(AgentKeyScopes.map((s) => Type.Literal(s))),
      /** The workspace, for scope "workspace" (its owners only). */
      wsid: Type.Optional(Id),
      name: Type.String({ pattern: EnvName }),
      /** Empty removes the key. */
      value: Type.String({ maxLength: 10_000 }),
    },
    { additionalProperties: false },
  ),
);
export const HubAgentKeyCommands = [ListAgentKeys, SetAgentKey] as const;

/** The names (never the values) of the keys an account's turns get. */
export interface AgentKeyNames {
  account: string[];
  /** The workspace's own, for its owners (they win over the account's of the same name). */
  workspace?: string[];
}

export type HubAgentKeysReply =
  | { ok: true; names: AgentKeyNames }
  | { ok: false; error: ErrorPayload };

/** A host's request: the keys of `account`'s turns in `wsid` (placed on that host). */
export const HostKeysRequest = Type.Object(
  { wsid: Id, account: Id },
  { additionalProperties: false },
);
export type HostKeysRequest = Static<typeof HostKeysRequest>;

export type HostKeysReply =
  | { ok: true; env: Record<string, string> }
  | { ok: false; error: ErrorPayload };
