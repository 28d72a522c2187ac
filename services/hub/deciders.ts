/**
 * The hub's three aggregates, as pure deciders: its configuration (set up once, sign-up
 * mode), each account (created, disabled, role, password changed or reset through a link,
 * deleted) and each invite
 * (uses left, expiry, revoked). Personal data never passes through here.
 */
import type { Command } from "../../shared/commands.js";
import type { Decider } from "../../shared/decider.js";
import { CocalcError } from "../../shared/errors.js";
import type {
  AccountLimits,
  AccountOrigin,
  AccountRole,
  SignOutReason,
  SignUpMode,
} from "../../shared/hub.js";

type Cmd<T extends string, D = Record<string, never>> = Command<T, D>;

// ---- configuration (hub.config)

export type ConfigCommand =
  | Cmd<"CompleteSetup", { admin: string }>
  | Cmd<"SetMode", { mode: SignUpMode }>;
export type ConfigDecided =
  | { type: "HubSetUp"; data: { admin: string } }
  | { type: "SignUpModeChanged"; data: { mode: SignUpMode } };
export interface ConfigState {
  setUp: boolean;
  mode: SignUpMode;
}

/** Until an admin changes it, people sign up with an invite. */
export const DEFAULT_SIGN_UP_MODE: SignUpMode = "invite";

export const configDecider: Decider<ConfigCommand, ConfigDecided, ConfigState> = {
  initialState: () => ({ setUp: false, mode: DEFAULT_SIGN_UP_MODE }),
  decide(c, s) {
    switch (c.type) {
      case "CompleteSetup":
        if (s.setUp)
          throw new CocalcError("ERR_HUB_SETUP", "the hub is set up already: sign in instead");
        return [{ type: "HubSetUp", data: { admin: c.data.admin } }];
      case "SetMode":
        return c.data.mode === s.mode
          ? []
          : [{ type: "SignUpModeChanged", data: { mode: c.data.mode } }];
      default: {
        const never: never = c;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },
  evolve(s, e) {
    switch (e.type) {
      case "HubSetUp":
        return { ...s, setUp: true };
      case "SignUpModeChanged":
        return { ...s, mode: e.data.mode };
      default: {
        const never: never = e;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};

// ---- accounts (hub.account.<id>)

export type AccountCommand =
  | Cmd<"CreateAccount", { role: AccountRole; via: AccountOrigin; invite?: string }>
  | Cmd<"Disable">
  | Cmd<"Enable">
  | Cmd<"SetRole", { role: AccountRole }>
  | Cmd<"RecordPasswordChange">
  | Cmd<"CreateResetLink", { expires: string }>
  | Cmd<"UseResetLink", { n: number }>
  | Cmd<"SetLimits", AccountLimits>
  | Cmd<"Delete">
  | Cmd<"RecordSignIn", { session: string; device: string }>
  | Cmd<"RecordSignOut", { sessions: string[]; why: SignOutReason }>;
export type AccountDecided =
  | {
      type: "AccountCreated";
      data: { role: AccountRole; via: AccountOrigin; invite?: string };
    }
  | { type: "AccountDisabled"; data: Record<string, never> }
  | { type: "AccountEnabled"; data: Record<string, never> }
  | { type: "AccountRoleChanged"; data: { role: AccountRole } }
  | { type: "PasswordChanged"; data: Record<string, never> }
  | { type: "ResetLinkCreated"; data: { n: number; expires: string } }
  | { type: "PasswordReset"; data: { n: number } }
  | { type: "AccountLimitsSet"; data: AccountLimits }
  | { type: "AccountDeleted"; data: Record<string, never> }
  | { type: "BrowserSignedIn"; data: { session: string; device: string } }
  | { type: "BrowserSignedOut"; data: { sessions: string[]; why: SignOutReason } };
/** The account's newest reset link: its number, expiry, and whether it was used. */
export interface ResetLinkState {
  n: number;
  expires: string;
  used: boolean;
}

export type AccountState =
  | { status: "none" }
  | {
      status: "active" | "disabled";
      role: AccountRole;
      via: AccountOrigin;
      limits?: AccountLimits;
      reset?: ResetLinkState;
      /** Its signed-in browsers' session ids, oldest first. */
      sessions?: readonly string[];
    }
  | { status: "deleted" };

const RESET_AGAIN = "ask an admin for a new one";

/** Why reset link `n` cannot be used at `at` (ERR_HUB_RESET), or nothing when it can. */
function resetRefusal(
  reset: ResetLinkState | undefined,
  n: number,
  at: string,
): string | undefined {
  if (!reset || n > reset.n || n < 1) return `this reset link is not valid: ${RESET_AGAIN}`;
  if (n < reset.n)
    return `a newer reset link was made for this account: use that one, or ${RESET_AGAIN}`;
  if (reset.used) return `this reset link has been used already: ${RESET_AGAIN}`;
  if (Date.parse(at) >= Date.parse(reset.expires))
    return `this reset link has expired: ${RESET_AGAIN}`;
  return undefined;
}

function existing(
  s: AccountState,
): asserts s is { status: "active" | "disabled"; role: AccountRole; via: AccountOrigin } {
  if (s.status === "none" || s.status === "deleted")
    throw new CocalcError("ERR_HUB_ACCOUNT_NOT_FOUND", "no such account");
}

export const accountDecider: Decider<AccountCommand, AccountDecided, AccountState> = {
  initialState: () => ({ status: "none" }),
  decide(c, s) {
    switch (c.type) {
      case "CreateAccount":
        if (s.status !== "none")
          throw new CocalcError("ERR_COMMAND_REJECTED", "this account id is taken");
        return [{ type: "AccountCreated", data: c.data }];
      case "Disable":
        existing(s);
        return s.status === "disabled" ? [] : [{ type: "AccountDisabled", data: {} }];
      case "Enable":
        existing(s);
        return s.status === "active" ? [] : [{ type: "AccountEnabled", data: {} }];
      case "SetRole":
        existing(s);
        return s.role === c.data.role
          ? []
          : [{ type: "AccountRoleChanged", data: { role: c.data.role } }];
      case "RecordPasswordChange":
        existing(s);
        return [{ type: "PasswordChanged", data: {} }];
      case "CreateResetLink":
        existing(s);
        return [
          {
            type: "ResetLinkCreated",
            data: { n: (s.reset?.n ?? 0) + 1, expires: c.data.expires },
          },
        ];
      case "UseResetLink": {
        if (s.status !== "active" && s.status !== "disabled")
          throw new CocalcError("ERR_HUB_RESET", `this reset link is not valid: ${RESET_AGAIN}`);
        const refusal = resetRefusal(s.reset, c.data.n, c.at);
        if (refusal) throw new CocalcError("ERR_HUB_RESET", refusal);
        if (s.status === "disabled")
          throw new CocalcError(
            "ERR_HUB_ACCOUNT_DISABLED",
            "this account is disabled: ask an admin",
          );
        return [{ type: "PasswordReset", data: { n: c.data.n } }];
      }
      case "SetLimits":
        existing(s);
        return [{ type: "AccountLimitsSet", data: c.data }];
      case "Delete":
        if (s.status === "deleted") return [];
        existing(s);
        return [{ type: "AccountDeleted", data: {} }];
      case "RecordSignIn":
        existing(s);
        if (s.status !== "active")
          throw new CocalcError(
            "ERR_HUB_ACCOUNT_DISABLED",
            "this account is disabled: ask an admin",
          );
        return s.sessions?.includes(c.data.session)
          ? []
          : [{ type: "BrowserSignedIn", data: c.data }];
      case "RecordSignOut": {
        // Told again (a retry, the gateway's check at start): only what is still signed in.
        if (s.status !== "active" && s.status !== "disabled") return [];
        const live = c.data.sessions.filter((id) => s.sessions?.includes(id));
        return live.length === 0
          ? []
          : [{ type: "BrowserSignedOut", data: { sessions: live, why: c.data.why } }];
      }
      default: {
        const never: never = c;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },
  evolve(s, e) {
    switch (e.type) {
      case "AccountCreated":
        return { status: "active", role: e.data.role, via: e.data.via };
      case "AccountDisabled":
        return s.status === "active" ? { ...s, status: "disabled" } : s;
      case "AccountEnabled":
        return s.status === "disabled" ? { ...s, status: "active" } : s;
      case "AccountRoleChanged":
        return s.status === "active" || s.status === "disabled" ? { ...s, role: e.data.role } : s;
      case "PasswordChanged":
        return s;
      case "ResetLinkCreated":
        return s.status === "active" || s.status === "disabled"
          ? { ...s, reset: { n: e.data.n, expires: e.data.expires, used: false } }
          : s;
      case "PasswordReset":
        return (s.status === "active" || s.status === "disabled") && s.reset?.n === e.data.n
          ? { ...s, reset: { ...s.reset, used: true } }
          : s;
      case "AccountLimitsSet":
        return s.status === "active" || s.status === "disabled" ? { ...s, limits: e.data } : s;
      case "AccountDeleted":
        return { status: "deleted" };
      case "BrowserSignedIn":
        return s.status === "active" || s.status === "disabled"
          ? { ...s, sessions: [...(s.sessions ?? []), e.data.session] }
          : s;
      case "BrowserSignedOut": {
        if (s.status !== "active" && s.status !== "disabled") return s;
        const gone = new Set(e.data.sessions);
        return { ...s, sessions: (s.sessions ?? []).filter((id) => !gone.has(id)) };
      }
      default: {
        const never: never = e;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};

// ---- invites (hub.invite.<id>)

export type InviteCommand =
  | Cmd<"CreateInvite", { uses: number; expires?: string }>
  | Cmd<"UseInvite", { account: string }>
  | Cmd<"RevokeInvite">;
export type InviteDecided =
  | { type: "InviteCreated"; data: { uses: number; expires?: string } }
  | { type: "InviteUsed"; data: { account: string } }
  | { type: "InviteRevoked"; data: Record<string, never> };
export type InviteState =
  | { status: "none" }
  | { status: "open" | "revoked"; uses: number; used: number; expires?: string };

const NOT_VALID = "this invite is not valid: ask for a new one";

export const inviteDecider: Decider<InviteCommand, InviteDecided, InviteState> = {
  initialState: () => ({ status: "none" }),
  decide(c, s) {
    switch (c.type) {
      case "CreateInvite":
        if (s.status !== "none") throw new CocalcError("ERR_COMMAND_REJECTED", "invite id taken");
        return [{ type: "InviteCreated", data: c.data }];
      case "UseInvite": {
        if (s.status !== "open") throw new CocalcError("ERR_HUB_INVITE", NOT_VALID);
        if (s.used >= s.uses)
          throw new CocalcError(
            "ERR_HUB_INVITE",
            "this invite has been used up: ask for a new one",
          );
        if (s.expires !== undefined && Date.parse(c.at) >= Date.parse(s.expires))
          throw new CocalcError("ERR_HUB_INVITE", "this invite has expired: ask for a new one");
        return [{ type: "InviteUsed", data: { account: c.data.account } }];
      }
      case "RevokeInvite":
        if (s.status === "none") throw new CocalcError("ERR_HUB_INVITE", "no such invite");
        return s.status === "revoked" ? [] : [{ type: "InviteRevoked", data: {} }];
      default: {
        const never: never = c;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },
  evolve(s, e) {
    switch (e.type) {
      case "InviteCreated":
        return {
          status: "open",
          uses: e.data.uses,
          used: 0,
          ...(e.data.expires !== undefined && { expires: e.data.expires }),
        };
      case "InviteUsed":
        return s.status === "none" ? s : { ...s, used: s.used + 1 };
      case "InviteRevoked":
        return s.status === "none" ? s : { ...s, status: "revoked" };
      default: {
        const never: never = e;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};
