/**
 * Agents' API keys on the hub (shared/hub-agent-keys.ts): per account, and per workspace for
 * its owners, each set one JSON record sealed with the hub's key (sealed.ts) in the private
 * store, so a copy of the hub's JetStream files holds no key in clear, and deleting an
 * account erases its keys with its other private data.
 *
 * People set and list keys through the gateway, as the signed-in account; only names come
 * back. A host asks for the keys of one account in one workspace when a turn starts: the hub
 * answers only a host the workspace is placed on, and only for its owners and collaborators
 * (a viewer's turn gets nothing: ERR_HUB_FORBIDDEN). An owner's turns get the workspace's
 * keys over the account's own of the same name; a collaborator's, the collaborator's own.
 */
import type { KV } from "@nats-io/kv";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { Value } from "@sinclair/typebox/value";
import { type CommandOf, parseCommand } from "../../shared/commands.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  type AgentKeyNames,
  HostKeysRequest,
  HubAgentKeyCommands,
  HubAgentKeySubjects,
  type ListAgentKeys,
  MAX_AGENT_KEYS,
  type SetAgentKey,
} from "../../shared/hub-agent-keys.js";
import {
  HubWorkspaceBuckets,
  HubWorkspaceSubjects,
  type HubWorkspaceView,
} from "../../shared/hub-workspaces.js";
import { AllHosts, hostOfInbox, hostOfSubject } from "../../shared/subjects.js";
import type { Logger } from "../runtime/logger.js";
import { runningService, type ServiceDefinition } from "../runtime/service.js";
import { agentKeysKey, PrivateStore } from "./private-store.js";
import { SealingKey } from "./sealed.js";

export const HUB_AGENT_KEYS_SERVICE = "hub-agent-keys";

type Scope = { account: string } | { wsid: string };

/** The sealed key sets in the private store. */
export class AgentKeyVault {
  constructor(
    private readonly store: PrivateStore,
    private readonly key: SealingKey,
  ) {}

  async all(scope: Scope): Promise<Record<string, string>> {
    const where = agentKeysKey(scope);
    const sealed = await this.store.sealed(where);
    if (sealed === undefined) return {};
    return JSON.parse(this.key.open(sealed, where)) as Record<string, string>;
  }

  async names(scope: Scope): Promise<string[]> {
    return Object.keys(await this.all(scope)).sort();
  }

  /** Erases every key of `scope` from the store's files. */
  erase(scope: Scope): Promise<void> {
    return this.store.setSealed(agentKeysKey(scope), "");
  }

  /** Sets (empty: removes) one key; the names after. */
  async set(scope: Scope, name: string, value: string): Promise<string[]> {
    const keys = await this.all(scope);
    if (value === "") delete keys[name];
    else keys[name] = value;
    const names = Object.keys(keys).sort();
    if (names.length > MAX_AGENT_KEYS)
      throw new CocalcError("ERR_HUB_AGENT_KEYS", `at most ${MAX_AGENT_KEYS} keys are kept`);
    const where = agentKeysKey(scope);
    await this.store.setSealed(
      where,
      names.length === 0 ? "" : this.key.seal(JSON.stringify(keys), where),
    );
    return names;
  }
}

/** Answers `sub`'s requests with handle's result, or `{ ok: false, error }`. */
export function serveHubRequests(
  sub: Subscription,
  handle: (m: Msg) => Promise<object>,
  log: Logger,
  accept: (m: Msg) => boolean = () => true,
): Promise<void> {
  return (async () => {
    for await (const m of sub) {
      if (!accept(m)) continue;
      void handle(m).then(
        (r) => m.respond(JSON.stringify({ ok: true, ...r })),
        (err: unknown) => {
          const error = toErrorPayload(err);
          if (error.code === "ERR_INTERNAL") log.error({ err }, "hub request failed");
          m.respond(
            JSON.stringify({ ok: false, error: { code: error.code, message: error.message } }),
          );
        },
      );
    }
  })();
}

export interface AgentKeysServiceOptions {
  /** The hub's sealing key file (made when missing). */
  keyFile: string;
}

export function hubAgentKeysService(opts: AgentKeysServiceOptions): ServiceDefinition {
  return {
    name: HUB_AGENT_KEYS_SERVICE,
    durables: [],
    async start(ctx) {
      const nc: NatsConnection = ctx.nc;
      const vault = new AgentKeyVault(
        await PrivateStore.open(ctx.kvm, ctx.jsm),
        await SealingKey.open(opts.keyFile),
      );
      const workspaces: KV = await ctx.kvm.open(HubWorkspaceBuckets.workspaces);
      const workspace = async (wsid: string): Promise<HubWorkspaceView | undefined> => {
        const e = await workspaces.get(wsid);
        return e?.operation === "PUT" && e.length > 0 ? e.json<HubWorkspaceView>() : undefined;
      };
      /** The workspace, when `account` owns it; else ERR_HUB_FORBIDDEN. */
      const owned = async (account: string, wsid: string) => {
        const w = await workspace(wsid);
        if (w?.members[account] !== "owner")
          throw new CocalcError(
            "ERR_HUB_FORBIDDEN",
            "only the workspace's owners keep keys for the workspace",
          );
        return w;
      };
      const namesOf = async (account: string, wsid?: string): Promise<AgentKeyNames> => {
        const names: AgentKeyNames = { account: await vault.names({ account }) };
        if (wsid !== undefined && (await workspace(wsid))?.members[account] === "owner")
          names.workspace = await vault.names({ wsid });
        return names;
      };

      const fromGateway = async (m: Msg) => {
        const cmd = parseCommand<CommandOf<typeof ListAgentKeys> | CommandOf<typeof SetAgentKey>>(
          HubAgentKeyCommands,
          m.data,
          { actor: "hub", at: ctx.now().toISOString() },
        );
        if (cmd.type === "ListAgentKeys")
          return { names: await namesOf(cmd.data.by, cmd.data.wsid) };
        const { by, scope, wsid, name, value } = cmd.data;
        if (scope === "account") await vault.set({ account: by }, name, value);
        else {
          if (wsid === undefined)
            throw new CocalcError("ERR_HUB_AGENT_KEYS", "a workspace's key needs the workspace");
          await owned(by, wsid);
          await vault.set({ wsid }, name, value);
        }
        ctx.log.info({ by, scope, wsid, name, removed: value === "" }, "agent key set");
        return { names: await namesOf(by, wsid) };
      };

      const fromHost = async (m: Msg) => {
        const hostId = hostOfSubject(m.subject);
        let body: unknown;
        try {
          body = m.json();
        } catch {
          body = undefined;
        }
        if (!hostId || !Value.Check(HostKeysRequest, body))
          throw new CocalcError(
            "ERR_HUB_AGENT_KEYS",
            "a key request names a workspace and an account",
          );
        const w = await workspace(body.wsid);
        const role = w?.members[body.account];
        if (!w || w.hostId !== hostId || (role !== "owner" && role !== "collaborator"))
          throw new CocalcError(
            "ERR_HUB_FORBIDDEN",
            "only the workspace's owners and collaborators run agents there",
          );
        const env = await vault.all({ account: body.account });
        if (role === "owner") Object.assign(env, await vault.all({ wsid: body.wsid }));
        ctx.log.info(
          { hostId, wsid: body.wsid, account: body.account },
          "agent keys given to a host",
        );
        return { env };
      };

      /** A host hears only its own inbox: an answer sent to another host's is not sent. */
      const ownInbox = (m: Msg) => {
        const hostId = hostOfSubject(m.subject);
        const ok = hostId !== undefined && hostOfInbox(m.reply) === hostId;
        if (!ok)
          ctx.log.warn(
            { subject: m.subject, reply: m.reply },
            "key request with another inbox dropped",
          );
        return ok;
      };

      // A deleted workspace's keys go with it (every event of it also reaches this subject).
      const deletions = nc.subscribe(HubWorkspaceSubjects.all, {
        callback: (err, m) => {
          if (err) return;
          try {
            if (m.json<{ type?: string }>().type !== "HubWorkspaceDeleted") return;
          } catch {
            return;
          }
          const wsid = m.subject.split(".")[1]!;
          void vault
            .erase({ wsid })
            .catch((e) => ctx.log.warn({ err: e, wsid }, "keys not erased"));
        },
      });
      const gatewaySub = nc.subscribe(HubAgentKeySubjects.command, {
        queue: HUB_AGENT_KEYS_SERVICE,
      });
      const hostSub = nc.subscribe(AllHosts.agentKeys, { queue: HUB_AGENT_KEYS_SERVICE });
      const part = (sub: Subscription, done: Promise<void>) => ({ done, stop: () => sub.drain() });
      return runningService(
        [
          part(gatewaySub, serveHubRequests(gatewaySub, fromGateway, ctx.log)),
          part(hostSub, serveHubRequests(hostSub, fromHost, ctx.log, ownInbox)),
        ],
        async () => deletions.unsubscribe(),
      );
    },
  };
}
