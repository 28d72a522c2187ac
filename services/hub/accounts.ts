/**
 * The hub's accounts service: first-run setup, sign-up (closed, invite, open), sign-in with
 * argon2id and a rate limit, passwords, invites, and the admin's account actions. Facts are
 * events on stream HUB (projected into the hub's views); emails and password hashes go only
 * to the private store. Its commands arrive on `hubcmd.accounts` from the hub's gateway.
 */
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import type { Msg, Subscription } from "@nats-io/nats-core";
import { hash as argonHash, verify as argonVerify } from "@node-rs/argon2";
import { randomId } from "../../shared/base64url.js";
import { type CommandOf, parseCommand } from "../../shared/commands.js";
import { EventRegistry } from "../../shared/envelope.js";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import {
  type AccountView,
  type ChangePassword,
  CONSOLE_ACTOR,
  type CreateAccount as CreateAccountCommand,
  type CreateInvite,
  type CreateResetLink,
  type DeleteAccount,
  type FindAccount,
  HubBuckets,
  HubCommands,
  HubEvents,
  type HubReply,
  HubSubjects,
  type ListAccounts,
  type RecordSignIn,
  type RecordSignOut,
  type ResetPassword,
  type RevokeInvite,
  type SetAccountDisabled,
  type SetAccountLimits,
  type SetAccountRole,
  type SetSignUpMode,
  type SetUpHub,
  type SignIn,
  type SignUp,
  type WhoAmI,
} from "../../shared/hub.js";
import { Streams } from "../../shared/subjects.js";
import { AggregateStore } from "../runtime/aggregate.js";
import { consumeEvents } from "../runtime/consumer.js";
import { projectionHandler } from "../runtime/projection.js";
import { runningService, type ServiceDefinition } from "../runtime/service.js";
import {
  type AccountCommand,
  type AccountDecided,
  type AccountState,
  accountDecider,
  type ConfigCommand,
  type ConfigDecided,
  type ConfigState,
  configDecider,
  type InviteCommand,
  type InviteDecided,
  type InviteState,
  inviteDecider,
} from "./deciders.js";
import { checkPassword } from "./passwords.js";
import { normalEmail, PrivateStore, sameHash, secretHash } from "./private-store.js";
import {
  accountsProjection,
  configProjection,
  invitesProjection,
  sessionsProjection,
} from "./projections.js";
import { SignInLimiter } from "./rate-limit.js";

/** Accounts one address may make in open sign-up within 15 minutes before it must wait. */
const OPEN_SIGN_UPS_FREE = 20;

import { createResetLink, type ResetLinkDeps, resetPassword } from "./reset-links.js";

export const HUB_ACCOUNTS_SERVICE = "hub-accounts";
export const hubRegistry = new EventRegistry(HubEvents);

export interface HubAccountsOptions {
  /** The one-time setup token's 0600 file (removed once the first admin exists). */
  setupTokenFile: string;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{1,63}$/;

function checkEmail(email: string): string {
  const e = normalEmail(email);
  if (!EMAIL.test(e))
    throw new CocalcError("ERR_HUB_EMAIL_INVALID", "that is not an email address");
  return e;
}

/** Creates the setup token file if the hub has no admin yet; returns the token, if any. */
export async function setupToken(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, "utf8")).trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return undefined;
  }
}

/** Makes a new setup token in `file` (0600). */
export async function newSetupToken(file: string): Promise<string> {
  const { writeSecretFile } = await import("../runtime/secret-file.js");
  const token = randomBytes(24).toString("base64url");
  await writeSecretFile(file, `${token}\n`);
  return token;
}

type Wire<D> = CommandOf<D>;

export function hubAccountsService(opts: HubAccountsOptions): ServiceDefinition {
  return {
    name: HUB_ACCOUNTS_SERVICE,
    durables: [HUB_ACCOUNTS_SERVICE],
    async start(ctx) {
      const { js, jsm } = ctx;
      const config = new AggregateStore<ConfigCommand, ConfigDecided, ConfigState>({
        js,
        jsm,
        log: ctx.log,
        stream: Streams.HUB,
        registry: hubRegistry,
        events: HubEvents,
        decider: configDecider,
      });
      const accounts = new AggregateStore<AccountCommand, AccountDecided, AccountState>({
        js,
        jsm,
        log: ctx.log,
        stream: Streams.HUB,
        registry: hubRegistry,
        events: HubEvents,
        decider: accountDecider,
      });
      const invites = new AggregateStore<InviteCommand, InviteDecided, InviteState>({
        js,
        jsm,
        log: ctx.log,
        stream: Streams.HUB,
        registry: hubRegistry,
        events: HubEvents,
        decider: inviteDecider,
      });
      const store = await PrivateStore.open(ctx.kvm, jsm);
      const limiter = new SignInLimiter(() => ctx.now().getTime());
      // Accounts made in open sign-up, per address (invited ones are the invites' uses).
      const openSignUps = new SignInLimiter(() => ctx.now().getTime(), OPEN_SIGN_UPS_FREE);
      const accountsView = await ctx.kvm.open(HubBuckets.accounts);
      // Unknown emails are verified against this, so a miss costs as long as a wrong password.
      const decoy = await argonHash(randomBytes(16).toString("hex"));

      const projector = await consumeEvents({
        nc: ctx.nc,
        js,
        jsm,
        stream: Streams.HUB,
        durable: HUB_ACCOUNTS_SERVICE,
        filterSubject: HubSubjects.all,
        registry: hubRegistry,
        log: ctx.log,
        handle: await projectionHandler(ctx.kvm, [
          accountsProjection,
          invitesProjection,
          configProjection,
          sessionsProjection,
        ]),
      });

      const meta = (actor: string) => ({ actor, at: ctx.now().toISOString() });
      const resets: ResetLinkDeps = { accounts, store, meta, now: () => ctx.now() };
      let resetting: Promise<unknown> = Promise.resolve();

      /**
       * An account as its events say now (the view may not have caught up with a command
       * just decided); only the creation time comes from the view.
       */
      async function viewOf(id: string): Promise<AccountView> {
        const { state } = await accounts.state(HubSubjects.account(id));
        if (state.status === "none" || state.status === "deleted")
          throw new CocalcError("ERR_HUB_ACCOUNT_NOT_FOUND", "no such account");
        const e = await accountsView.get(id);
        const stored =
          e && e.operation === "PUT" && e.length > 0 ? e.json<AccountView>() : undefined;
        return {
          id,
          role: state.role,
          status: state.status,
          via: state.via,
          ...(state.limits && { limits: state.limits }),
          // Not projected yet: it was made a moment ago.
          created: stored?.created ?? ctx.now().toISOString(),
        };
      }

      async function requireAdmin(by: string): Promise<void> {
        // The operator at the console: only the hub's own services can send this subject.
        if (by === CONSOLE_ACTOR) return;
        const { state } = await accounts.state(HubSubjects.account(by));
        if (state.status !== "active" || state.role !== "admin")
          throw new CocalcError("ERR_HUB_FORBIDDEN", "only an admin may do that");
      }

      /** A new account: email claimed, hash stored, then the event. Undone if the event fails. */
      async function createAccount(
        email: string,
        password: string,
        data: {
          role: "admin" | "user";
          via: "setup" | "invite" | "open" | "console";
          invite?: string;
        },
        actor: string,
      ): Promise<string> {
        const id = randomId();
        await store.create(id, { email, passwordHash: await argonHash(password) });
        try {
          await accounts.execute(HubSubjects.account(id), {
            type: "CreateAccount",
            data,
            ...meta(actor),
          });
        } catch (err) {
          await store.erase(id).catch(() => undefined);
          throw err;
        }
        return id;
      }

      async function handle(raw: Msg): Promise<HubReply> {
        const cmd = parseCommand<
          | Wire<typeof SetUpHub>
          | Wire<typeof SignUp>
          | Wire<typeof SignIn>
          | Wire<typeof ChangePassword>
          | Wire<typeof SetSignUpMode>
          | Wire<typeof CreateInvite>
          | Wire<typeof RevokeInvite>
          | Wire<typeof SetAccountDisabled>
          | Wire<typeof SetAccountRole>
          | Wire<typeof DeleteAccount>
          | Wire<typeof WhoAmI>
          | Wire<typeof FindAccount>
          | Wire<typeof ListAccounts>
          | Wire<typeof CreateAccountCommand>
          | Wire<typeof SetAccountLimits>
          | Wire<typeof CreateResetLink>
          | Wire<typeof ResetPassword>
          | Wire<typeof RecordSignIn>
          | Wire<typeof RecordSignOut>
        >(HubCommands, raw.data, meta("hub"));
        switch (cmd.type) {
          case "SetUpHub": {
            const want = await setupToken(opts.setupTokenFile);
            const { state } = await config.state(HubSubjects.config);
            if (state.setUp || want === undefined)
              throw new CocalcError("ERR_HUB_SETUP", "the hub is set up already: sign in instead");
            if (!sameHash(secretHash(cmd.data.setupToken), secretHash(want)))
              throw new CocalcError(
                "ERR_HUB_SETUP",
                "this setup link is wrong: use the one the hub printed when it started",
              );
            const email = checkEmail(cmd.data.email);
            checkPassword(cmd.data.password);
            const id = await createAccount(
              email,
              cmd.data.password,
              { role: "admin", via: "setup" },
              "setup",
            );
            await config.execute(HubSubjects.config, {
              type: "CompleteSetup",
              data: { admin: id },
              ...meta(id),
            });
            await rm(opts.setupTokenFile, { force: true });
            ctx.log.info({ account: id }, "the hub's first admin was created");
            return { ok: true, account: await viewOf(id) };
          }
          case "SignUp": {
            const { state } = await config.state(HubSubjects.config);
            if (!state.setUp)
              throw new CocalcError("ERR_HUB_SIGN_UP_CLOSED", "the hub is not set up yet");
            const email = checkEmail(cmd.data.email);
            checkPassword(cmd.data.password);
            let invite: string | undefined;
            if (state.mode === "closed")
              throw new CocalcError("ERR_HUB_SIGN_UP_CLOSED", "sign-up is closed: ask an admin");
            if (state.mode === "invite" || cmd.data.invite !== undefined) {
              if (!cmd.data.invite)
                throw new CocalcError("ERR_HUB_INVITE", "sign-up needs an invite: ask an admin");
              invite = await checkInvite(cmd.data.invite);
            }
            const byAddress =
              !invite && cmd.data.address !== undefined ? [`address:${cmd.data.address}`] : [];
            openSignUps.check(byAddress, "accounts made from this address");
            if ((await store.accountOfEmail(email)) !== undefined)
              throw new CocalcError("ERR_HUB_EMAIL_TAKEN", "an account with this email exists");
            const id = randomId();
            if (invite)
              await invites.execute(HubSubjects.invite(invite), {
                type: "UseInvite",
                data: { account: id },
                ...meta(id),
              });
            await store.create(id, { email, passwordHash: await argonHash(cmd.data.password) });
            try {
              await accounts.execute(HubSubjects.account(id), {
                type: "CreateAccount",
                data: {
                  role: "user",
                  via: invite ? "invite" : "open",
                  ...(invite && { invite }),
                },
                ...meta(id),
              });
            } catch (err) {
              await store.erase(id).catch(() => undefined);
              throw err;
            }
            openSignUps.failed(byAddress);
            return { ok: true, account: await viewOf(id) };
          }
          case "SignIn": {
            const email = normalEmail(cmd.data.email);
            const keys = [`email:${email}`, `address:${cmd.data.address}`];
            limiter.check(keys);
            const id = await store.accountOfEmail(email);
            const record = id ? await store.account(id) : undefined;
            // Read while the hash is checked; only shown once it matched.
            const viewing = id ? viewOf(id) : undefined;
            viewing?.catch(() => undefined);
            const ok = await argonVerify(record?.passwordHash ?? decoy, cmd.data.password).catch(
              () => false,
            );
            if (!ok || !id || !record || !viewing) {
              limiter.failed(keys);
              throw new CocalcError("ERR_HUB_SIGN_IN", "wrong email or password");
            }
            const view = await viewing;
            if (view.status !== "active")
              throw new CocalcError(
                "ERR_HUB_ACCOUNT_DISABLED",
                "this account is disabled: ask an admin",
              );
            limiter.succeeded(keys[0]!);
            if (cmd.data.browser)
              await accounts.execute(HubSubjects.account(id), {
                type: "RecordSignIn",
                data: cmd.data.browser,
                ...meta(id),
              });
            return { ok: true, account: view };
          }
          case "ChangePassword": {
            const record = await store.account(cmd.data.by);
            // The current password is asked so that a browser left signed in cannot take the
            // account: guessing it is slowed as a sign-in's is, on the same count.
            const keys = record ? [`email:${normalEmail(record.email)}`] : [];
            limiter.check(keys);
            if (
              !record ||
              !(await argonVerify(record.passwordHash, cmd.data.old).catch(() => false))
            ) {
              limiter.failed(keys);
              throw new CocalcError("ERR_HUB_PASSWORD_WRONG", "the current password is wrong");
            }
            limiter.succeeded(keys[0]!);
            checkPassword(cmd.data.password);
            await store.setPasswordHash(cmd.data.by, await argonHash(cmd.data.password));
            await accounts.execute(HubSubjects.account(cmd.data.by), {
              type: "RecordPasswordChange",
              data: {},
              ...meta(cmd.data.by),
            });
            return { ok: true, account: await viewOf(cmd.data.by) };
          }
          case "SetSignUpMode":
            await requireAdmin(cmd.data.by);
            await config.execute(HubSubjects.config, {
              type: "SetMode",
              data: { mode: cmd.data.mode },
              ...meta(cmd.data.by),
            });
            return { ok: true };
          case "CreateInvite": {
            await requireAdmin(cmd.data.by);
            const id = randomId();
            const secret = randomBytes(24).toString("base64url");
            await store.setInviteHash(id, secretHash(secret));
            const at = ctx.now();
            await invites.execute(HubSubjects.invite(id), {
              type: "CreateInvite",
              data: {
                uses: cmd.data.uses,
                ...(cmd.data.ttlSeconds !== undefined && {
                  expires: new Date(at.getTime() + cmd.data.ttlSeconds * 1000).toISOString(),
                }),
              },
              ...meta(cmd.data.by),
            });
            return { ok: true, invite: { id, token: `${id}.${secret}` } };
          }
          case "RevokeInvite":
            await requireAdmin(cmd.data.by);
            await invites.execute(HubSubjects.invite(cmd.data.invite), {
              type: "RevokeInvite",
              data: {},
              ...meta(cmd.data.by),
            });
            await store.eraseInvite(cmd.data.invite);
            return { ok: true };
          case "SetAccountDisabled":
            await requireAdmin(cmd.data.by);
            if (cmd.data.account === cmd.data.by)
              throw new CocalcError("ERR_COMMAND_REJECTED", "an admin cannot disable themselves");
            await accounts.execute(HubSubjects.account(cmd.data.account), {
              type: cmd.data.disabled ? "Disable" : "Enable",
              data: {},
              ...meta(cmd.data.by),
            });
            return { ok: true, account: await viewOf(cmd.data.account) };
          case "SetAccountRole":
            await requireAdmin(cmd.data.by);
            if (cmd.data.account === cmd.data.by && cmd.data.role !== "admin")
              throw new CocalcError("ERR_COMMAND_REJECTED", "an admin cannot demote themselves");
            await accounts.execute(HubSubjects.account(cmd.data.account), {
              type: "SetRole",
              data: { role: cmd.data.role },
              ...meta(cmd.data.by),
            });
            return { ok: true, account: await viewOf(cmd.data.account) };
          case "SetAccountLimits":
            await requireAdmin(cmd.data.by);
            await accounts.execute(HubSubjects.account(cmd.data.account), {
              type: "SetLimits",
              data: cmd.data.limits,
              ...meta(cmd.data.by),
            });
            return { ok: true, account: await viewOf(cmd.data.account) };
          case "FindAccount": {
            await requireAdmin(cmd.data.by);
            const id = await store.accountOfEmail(cmd.data.email);
            if (id === undefined)
              throw new CocalcError("ERR_HUB_ACCOUNT_NOT_FOUND", "no account has this email");
            return { ok: true, account: await viewOf(id), email: normalEmail(cmd.data.email) };
          }
          case "ListAccounts": {
            await requireAdmin(cmd.data.by);
            const list: (AccountView & { email?: string })[] = [];
            for await (const id of await accountsView.keys()) {
              const e = await accountsView.get(id);
              if (e?.operation !== "PUT" || e.length === 0) continue;
              const view = e.json<AccountView & { _seq?: number }>();
              const { _seq, ...rest } = view;
              const record = await store.account(id);
              list.push({ ...rest, ...(record && { email: record.email }) });
            }
            list.sort((a, b) => a.created.localeCompare(b.created));
            return { ok: true, accounts: list };
          }
          case "CreateAccount": {
            await requireAdmin(cmd.data.by);
            const email = checkEmail(cmd.data.email);
            checkPassword(cmd.data.password);
            const id = await createAccount(
              email,
              cmd.data.password,
              { role: cmd.data.role, via: "console" },
              cmd.data.by,
            );
            return { ok: true, account: await viewOf(id) };
          }
          case "CreateResetLink": {
            await requireAdmin(cmd.data.by);
            const { by, account, ttlSeconds } = cmd.data;
            // One at a time: each link's number is the one after the last.
            const made = resetting.then(() => createResetLink(resets, by, account, ttlSeconds));
            resetting = made.catch(() => undefined);
            const reset = await made;
            ctx.log.info({ account, by, expires: reset.expires }, "a password reset link was made");
            return { ok: true, reset };
          }
          case "ResetPassword": {
            const id = await resetPassword(resets, cmd.data.token, cmd.data.password);
            ctx.log.info({ account: id }, "a password was reset through a link");
            return { ok: true, account: await viewOf(id) };
          }
          case "WhoAmI": {
            const account = await viewOf(cmd.data.by);
            const record = await store.account(cmd.data.by);
            return { ok: true, account, ...(record && { email: record.email }) };
          }
          case "DeleteAccount": {
            if (cmd.data.by !== cmd.data.account) await requireAdmin(cmd.data.by);
            await accounts.execute(HubSubjects.account(cmd.data.account), {
              type: "Delete",
              data: {},
              ...meta(cmd.data.by),
            });
            await store.erase(cmd.data.account);
            ctx.log.info(
              { account: cmd.data.account },
              "account deleted and its personal data erased",
            );
            return { ok: true };
          }
          case "RecordSignIn": {
            const { account, ...data } = cmd.data;
            await accounts.execute(HubSubjects.account(account), {
              type: "RecordSignIn",
              data,
              ...meta(account),
            });
            return { ok: true };
          }
          case "RecordSignOut": {
            const { account, ...data } = cmd.data;
            await accounts.execute(HubSubjects.account(account), {
              type: "RecordSignOut",
              data,
              ...meta(account),
            });
            return { ok: true };
          }
          default: {
            const never: never = cmd;
            throw new Error(`unhandled command ${(never as { type: string }).type}`);
          }
        }
      }

      /** The invite id of a valid invite token (`<id>.<secret>`), else ERR_HUB_INVITE. */
      async function checkInvite(token: string): Promise<string> {
        const [id, secret] = token.split(".");
        const bad = new CocalcError(
          "ERR_HUB_INVITE",
          "this invite is not valid: ask for a new one",
        );
        if (!id || !secret || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw bad;
        const want = await store.inviteHash(id);
        if (!want || !sameHash(secretHash(secret), want)) throw bad;
        return id;
      }

      const sub: Subscription = ctx.nc.subscribe(HubSubjects.command, {
        callback: (err, msg) => {
          if (err) return;
          void handle(msg)
            .catch((e): HubReply => {
              const p = toErrorPayload(e);
              if (p.code === "ERR_INTERNAL") ctx.log.error({ err: e }, "hub command failed");
              const retry = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
              return {
                ok: false,
                error: { ...p, ...(retry !== undefined && { retryAfterSeconds: retry }) },
              };
            })
            .then((reply) => msg.respond(JSON.stringify(reply)));
        },
      });
      const commands = {
        done: sub.closed,
        stop: async () => {
          await sub.drain();
        },
      };
      return runningService([commands, projector], async () => undefined);
    },
  };
}
