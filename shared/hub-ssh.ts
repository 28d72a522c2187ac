/**
 * SSH into launchpad workspaces: accounts' public keys and the user form the hub's SSH server
 * takes. Keys are personal data: the hub keeps them with the account in its private store
 * (erased with it), never in event history. People manage their own keys through the hub's
 * gateway; the operator at the console manages anyone's (`hubcmd.sshkeys`, the hub's own
 * services only).
 */
import { Type } from "@sinclair/typebox";
import { defineCommand } from "./commands.js";
import type { ErrorPayload } from "./errors.js";

const Id = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });

export const HubSshKeySubjects = {
  /** Requests from the hub's gateway (for the signed-in account) and its console. */
  command: "hubcmd.sshkeys",
} as const;

/** At most this many keys per account. */
export const MAX_SSH_KEYS = 32;

/** A key's name: what its owner calls it ("laptop"). */
export const SshKeyName = "^[-_.@A-Za-z0-9 ]{1,64}$";

export const ListSshKeys = defineCommand(
  "ListSshKeys",
  Type.Object(
    {
      by: Id,
      /** Another account's keys: the console only. */
      account: Type.Optional(Id),
    },
    { additionalProperties: false },
  ),
);
export const AddSshKey = defineCommand(
  "AddSshKey",
  Type.Object(
    {
      by: Id,
      account: Type.Optional(Id),
      name: Type.String({ pattern: SshKeyName }),
      /** The public key, in OpenSSH's one-line form (`ssh-ed25519 AAAA… comment`). */
      key: Type.String({ minLength: 1, maxLength: 16_384 }),
    },
    { additionalProperties: false },
  ),
);
export const RemoveSshKey = defineCommand(
  "RemoveSshKey",
  Type.Object(
    { by: Id, account: Type.Optional(Id), name: Type.String({ pattern: SshKeyName }) },
    { additionalProperties: false },
  ),
);
export const HubSshKeyCommands = [ListSshKeys, AddSshKey, RemoveSshKey] as const;

/** A key as its owner sees it. */
export interface SshKeyView {
  name: string;
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, … */
  type: string;
  /** As `ssh-keygen -l` prints it: `SHA256:` and the unpadded base64 of the key's hash. */
  fingerprint: string;
  added: string;
}

export type HubSshKeysReply = { ok: true; keys: SshKeyView[] } | { ok: false; error: ErrorPayload };

/**
 * The user name of `ssh -p PORT USER@HUB`: the workspace id, or `ANYTHING+WSID` (a name of
 * one's own before the +, for tools that want a user name; the key says who it is). The
 * workspace id, or undefined when `user` is neither form.
 */
export function wsidOfSshUser(user: string): string | undefined {
  const wsid = user.includes("+") ? user.slice(user.lastIndexOf("+") + 1) : user;
  return /^[A-Za-z0-9_-]{1,64}$/.test(wsid) ? wsid : undefined;
}
