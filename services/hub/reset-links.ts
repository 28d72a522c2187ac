/**
 * Password reset links that an admin (or the operator at the console) makes for an account:
 * `/reset#<account>.<n>.<secret>`. The secret is only in the link, whose hash part no server
 * sees; the private store keeps its sha256 under the link's number `n`, the account's
 * events say that link `n` was made (by whom, until when) and used. A link works once, until
 * it expires, and only while it is the account's newest; anything else is ERR_HUB_RESET and
 * changes nothing.
 */
import { randomBytes } from "node:crypto";
import { hash as argonHash } from "@node-rs/argon2";
import { CocalcError } from "../../shared/errors.js";
import { HubSubjects } from "../../shared/hub.js";
import type { AggregateStore } from "../runtime/aggregate.js";
import type { AccountCommand, AccountDecided, AccountState } from "./deciders.js";
import { checkPassword } from "./passwords.js";
import { type PrivateStore, sameHash, secretHash } from "./private-store.js";

/** A reset token's shape: account id, link number, secret (base64url). */
const TOKEN = /^([A-Za-z0-9_-]{1,64})\.([1-9][0-9]{0,8})\.([A-Za-z0-9_-]{32})$/;

const NOT_VALID = "this reset link is not valid: ask an admin for a new one";

export interface ResetLinkDeps {
  accounts: AggregateStore<AccountCommand, AccountDecided, AccountState>;
  store: PrivateStore;
  /** Who acts and when, for a command. */
  meta(actor: string): { actor: string; at: string };
  now(): Date;
}

/** A new link for `account` valid `ttlSeconds`, made by `by`: its token (shown once). */
export async function createResetLink(
  d: ResetLinkDeps,
  by: string,
  account: string,
  ttlSeconds: number,
): Promise<{ token: string; expires: string }> {
  const expires = new Date(d.now().getTime() + ttlSeconds * 1000).toISOString();
  const secret = randomBytes(24).toString("base64url");
  // The number the decider will give it; a concurrent one makes the event's write conflict.
  const { state } = await d.accounts.state(HubSubjects.account(account));
  if (state.status !== "active" && state.status !== "disabled")
    throw new CocalcError("ERR_HUB_ACCOUNT_NOT_FOUND", "no such account");
  const n = (state.reset?.n ?? 0) + 1;
  // The hash first: a link whose event failed only leaves a hash no event names.
  await d.store.addResetLink(account, n, secretHash(secret));
  const { state: after } = await d.accounts.execute(HubSubjects.account(account), {
    type: "CreateResetLink",
    data: { expires },
    ...d.meta(by),
  });
  if (after.status === "none" || after.status === "deleted" || after.reset?.n !== n)
    throw new CocalcError(
      "ERR_HUB_RESET",
      "another reset link was made at the same time: try again",
    );
  return { token: `${account}.${n}.${secret}`, expires };
}

/**
 * Sets the account's password through a reset token: its secret checked against the stored
 * hash, then the link used up by its event (the decider: once, before it expires, only the
 * newest), then the new password's hash stored.
 * Returns the account's id. The caller signs its browsers out.
 */
export async function resetPassword(
  d: ResetLinkDeps,
  token: string,
  password: string,
): Promise<string> {
  const m = TOKEN.exec(token);
  if (!m) throw new CocalcError("ERR_HUB_RESET", NOT_VALID);
  const [, account, nText, secret] = m as unknown as [string, string, string, string];
  const n = Number(nText);
  // Only a secret that matches the stored hash of link `n` gets further (else: forged).
  const want = await d.store.resetLinkHash(account, n);
  if (!want || !sameHash(secretHash(secret), want))
    throw new CocalcError("ERR_HUB_RESET", NOT_VALID);
  checkPassword(password);
  const passwordHash = await argonHash(password);
  // Used up here, once: a second use (even at the same moment) is refused by the decider.
  await d.accounts.execute(HubSubjects.account(account), {
    type: "UseResetLink",
    data: { n },
    ...d.meta(account),
  });
  await d.store.setPasswordHash(account, passwordHash);
  return account;
}
