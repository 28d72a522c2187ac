/**
 * Accounts' SSH public keys (shared/hub-ssh.ts), kept with the account in the hub's private
 * store: people add, list and remove their own through the gateway; the operator at the
 * console anyone's. A key is checked (ssh2 parses it: a public key of a kind SSH servers
 * take) and shown by its SHA256 fingerprint, as `ssh-keygen -l` prints it.
 */
import { createHash } from "node:crypto";
import type { Msg } from "@nats-io/nats-core";
import ssh2 from "ssh2";
import { type CommandOf, parseCommand } from "../../shared/commands.js";
import { CocalcError } from "../../shared/errors.js";
import { CONSOLE_ACTOR } from "../../shared/hub.js";
import {
  type AddSshKey,
  HubSshKeyCommands,
  HubSshKeySubjects,
  type ListSshKeys,
  MAX_SSH_KEYS,
  type RemoveSshKey,
  type SshKeyView,
} from "../../shared/hub-ssh.js";
import { runningService, type ServiceDefinition } from "../runtime/service.js";
import { serveHubRequests } from "./agent-keys.js";
import { PrivateStore, type StoredSshKey } from "./private-store.js";

export const HUB_SSH_KEYS_SERVICE = "hub-ssh-keys";

/** `SHA256:…` of a key's wire form, as OpenSSH prints it. */
export function sshFingerprint(wire: Buffer): string {
  return `SHA256:${createHash("sha256").update(wire).digest("base64").replace(/=+$/, "")}`;
}

/** A public key line's type and wire form; ERR_HUB_SSH_KEY when it is not one. */
export function parsePublicKey(line: string): { type: string; wire: Buffer } {
  const parsed = ssh2.utils.parseKey(line.trim());
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error || key.isPrivateKey())
    throw new CocalcError(
      "ERR_HUB_SSH_KEY",
      "not an SSH public key: paste one line of a .pub file (ssh-ed25519 AAAA… or the like)",
    );
  return { type: key.type, wire: key.getPublicSSH() };
}

const view = (k: StoredSshKey): SshKeyView => ({
  name: k.name,
  type: k.type,
  fingerprint: k.fingerprint,
  added: k.added,
});

export function hubSshKeysService(): ServiceDefinition {
  return {
    name: HUB_SSH_KEYS_SERVICE,
    durables: [],
    async start(ctx) {
      const store = await PrivateStore.open(ctx.kvm, ctx.jsm);
      const handle = async (m: Msg) => {
        const cmd = parseCommand<
          | CommandOf<typeof ListSshKeys>
          | CommandOf<typeof AddSshKey>
          | CommandOf<typeof RemoveSshKey>
        >(HubSshKeyCommands, m.data, { actor: "hub", at: ctx.now().toISOString() });
        const { by } = cmd.data;
        if (cmd.data.account !== undefined && by !== CONSOLE_ACTOR && cmd.data.account !== by)
          throw new CocalcError("ERR_HUB_FORBIDDEN", "only the console manages another's keys");
        const account = cmd.data.account ?? by;
        if (account === CONSOLE_ACTOR)
          throw new CocalcError("ERR_HUB_SSH_KEY", "the console names the account");
        const keys = await store.sshKeys(account);
        if (cmd.type === "ListSshKeys") return { keys: keys.map(view) };
        if (cmd.type === "RemoveSshKey") {
          const left = keys.filter((k) => k.name !== cmd.data.name);
          if (left.length === keys.length)
            throw new CocalcError("ERR_HUB_SSH_KEY", `no key named ${cmd.data.name}`);
          await store.setSshKeys(account, left);
          ctx.log.info({ account, name: cmd.data.name }, "ssh key removed");
          return { keys: left.map(view) };
        }
        const { type, wire } = parsePublicKey(cmd.data.key);
        const data = wire.toString("base64");
        if (keys.some((k) => k.name === cmd.data.name))
          throw new CocalcError("ERR_HUB_SSH_KEY", `a key named ${cmd.data.name} is there already`);
        if (keys.some((k) => k.data === data))
          throw new CocalcError("ERR_HUB_SSH_KEY", "this key is on the account already");
        if (keys.length >= MAX_SSH_KEYS)
          throw new CocalcError("ERR_HUB_SSH_KEY", `at most ${MAX_SSH_KEYS} keys per account`);
        const added: StoredSshKey = {
          name: cmd.data.name,
          type,
          data,
          fingerprint: sshFingerprint(wire),
          added: ctx.now().toISOString(),
        };
        const all = [...keys, added];
        await store.setSshKeys(account, all);
        ctx.log.info(
          { account, name: added.name, fingerprint: added.fingerprint },
          "ssh key added",
        );
        return { keys: all.map(view) };
      };
      const sub = ctx.nc.subscribe(HubSshKeySubjects.command, { queue: HUB_SSH_KEYS_SERVICE });
      return runningService(
        [{ done: serveHubRequests(sub, handle, ctx.log), stop: () => sub.drain() }],
        async () => undefined,
      );
    },
  };
}
