/**
 * The launchpad hub's accounts: events, commands and views. What an account is and may do is
 * an event on stream HUB; what identifies a person (email, password hash, invite secrets) is
 * never in an event: it lives in the hub's mutable store (KV `hub-private`), so deleting an
 * account erases it.
 */
import { type Static, Type } from "@sinclair/typebox";
import { defineCommand } from "./commands.js";
import { defineEvent, type EventOf } from "./envelope.js";
import { validateKeyToken } from "./subjects.js";

/** The JetStream domain of the hub (and of the control plane that hosts join). */
export const HUB_JS_DOMAIN = "hub";

export const SignUpModes = ["closed", "invite", "open"] as const;
export type SignUpMode = (typeof SignUpModes)[number];

export const AccountRoles = ["admin", "user"] as const;
export type AccountRole = (typeof AccountRoles)[number];

export const AccountOrigins = ["setup", "invite", "open", "console"] as const;
export type AccountOrigin = (typeof AccountOrigins)[number];

const Id = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });
const Role = Type.Union(AccountRoles.map((r) => Type.Literal(r)));
const Mode = Type.Union(SignUpModes.map((m) => Type.Literal(m)));

/** Subjects of the hub (stream HUB) and where its commands go (core NATS, not stored). */
export const HubSubjects = {
  config: "hub.config",
  account: (id: string) => `hub.account.${validateKeyToken(id, "account id")}`,
  invite: (id: string) => `hub.invite.${validateKeyToken(id, "invite id")}`,
  all: "hub.>",
  accounts: "hub.account.*",
  invites: "hub.invite.*",
  /** Requests to the accounts service; only the hub's own services may send them. */
  command: "hubcmd.accounts",
} as const;

// hub.config
export const HubSetUp = defineEvent("HubSetUp", 1, Type.Object({ admin: Id }));
export const SignUpModeChanged = defineEvent("SignUpModeChanged", 1, Type.Object({ mode: Mode }));
export const HubConfigEvents = [HubSetUp, SignUpModeChanged] as const;
export type HubConfigEvent = EventOf<(typeof HubConfigEvents)[number]>;

// hub.account.<id>
export const AccountCreated = defineEvent(
  "AccountCreated",
  1,
  Type.Object({
    role: Role,
    via: Type.Union(AccountOrigins.map((o) => Type.Literal(o))),
    invite: Type.Optional(Id),
  }),
);
export const AccountDisabled = defineEvent("AccountDisabled", 1, Type.Object({}));
export const AccountEnabled = defineEvent("AccountEnabled", 1, Type.Object({}));
export const AccountRoleChanged = defineEvent("AccountRoleChanged", 1, Type.Object({ role: Role }));
export const PasswordChanged = defineEvent("PasswordChanged", 1, Type.Object({}));
/**
 * An admin (the actor) made the account's reset link number `n`, valid until `expires`; it
 * voids the account's earlier links. Its secret is only in the link and, hashed, in the
 * private store.
 */
export const ResetLinkCreated = defineEvent(
  "ResetLinkCreated",
  1,
  Type.Object({
    n: Type.Integer({ minimum: 1 }),
    expires: Type.String({ minLength: 10, maxLength: 40 }),
  }),
);
/** Reset link `n` set a new password (once); the account's browsers were signed out. */
export const PasswordReset = defineEvent(
  "PasswordReset",
  1,
  Type.Object({ n: Type.Integer({ minimum: 1 }) }),
);

/** What one account may have: workspaces, and what each may ask for. */
export const AccountLimitsSchema = Type.Object(
  {
    workspaces: Type.Integer({ minimum: 0, maximum: 10_000 }),
    /** Disk of all its workspaces together (their quotas), MB. */
    diskMb: Type.Integer({ minimum: 0, maximum: 1024 * 1024 * 1024 }),
    cpusPerWorkspace: Type.Number({ minimum: 0.05, maximum: 1024 }),
    memoryMbPerWorkspace: Type.Integer({ minimum: 16, maximum: 1024 * 1024 }),
  },
  { additionalProperties: false },
);
export type AccountLimits = Static<typeof AccountLimitsSchema>;

/** An account's limits until an admin sets others. */
export const DEFAULT_ACCOUNT_LIMITS: AccountLimits = {
  workspaces: 5,
  diskMb: 20_480,
  cpusPerWorkspace: 2,
  memoryMbPerWorkspace: 4096,
};

export const AccountLimitsSet = defineEvent("AccountLimitsSet", 1, AccountLimitsSchema);
/** What remains of a deleted account: that it existed (its personal data is erased). */
export const AccountDeleted = defineEvent("AccountDeleted", 1, Type.Object({}));
/**
 * A browser signed in to the account: its session id (not its secret, whose hash is only in
 * the gateway's store) and what the browser is, coarsely ("Chromium on Linux"): no address
 * and no whole user agent, which would be personal data kept in history.
 */
export const BrowserSignedIn = defineEvent(
  "BrowserSignedIn",
  1,
  Type.Object({ session: Id, device: Type.String({ maxLength: 80 }) }),
);
export const SignOutReasons = [
  "signed-out",
  "everywhere",
  "password",
  "expired",
  "too-many",
  "disabled",
  "deleted",
] as const;
export type SignOutReason = (typeof SignOutReasons)[number];
/** Browsers of the account were signed out, and why. */
export const BrowserSignedOut = defineEvent(
  "BrowserSignedOut",
  1,
  Type.Object({
    sessions: Type.Array(Id, { minItems: 1, maxItems: 256 }),
    why: Type.Union(SignOutReasons.map((r) => Type.Literal(r))),
  }),
);
export const AccountSessionEvents = [BrowserSignedIn, BrowserSignedOut] as const;
export type AccountSessionEvent = EventOf<(typeof AccountSessionEvents)[number]>;

export const AccountLifeEvents = [
  AccountCreated,
  AccountDisabled,
  AccountEnabled,
  AccountRoleChanged,
  PasswordChanged,
  ResetLinkCreated,
  PasswordReset,
  AccountLimitsSet,
  AccountDeleted,
] as const;
export type AccountLifeEvent = EventOf<(typeof AccountLifeEvents)[number]>;

// hub.invite.<id>
export const InviteCreated = defineEvent(
  "InviteCreated",
  1,
  Type.Object({
    uses: Type.Integer({ minimum: 1, maximum: 10_000 }),
    // An ISO time (the check is Date.parse in the decider).
    expires: Type.Optional(Type.String({ minLength: 10, maxLength: 40 })),
  }),
);
export const InviteUsed = defineEvent("InviteUsed", 1, Type.Object({ account: Id }));
export const InviteRevoked = defineEvent("InviteRevoked", 1, Type.Object({}));
export const InviteEvents = [InviteCreated, InviteUsed, InviteRevoked] as const;
export type InviteEvent = EventOf<(typeof InviteEvents)[number]>;

export const HubEvents = [
  ...HubConfigEvents,
  ...AccountLifeEvents,
  ...AccountSessionEvents,
  ...InviteEvents,
] as const;

/** A reset link is valid at most this long (7 days). */
export const MAX_RESET_TTL_SECONDS = 7 * 86_400;
/** A reset link's path on the hub: the token follows in the hash, which no server sees. */
export const RESET_PATH = "/reset";

const Email = Type.String({ minLength: 3, maxLength: 254 });
const Password = Type.String({ minLength: 1, maxLength: 1024 });

/** Commands of the accounts service. `by` is the signed-in account that asks (admin commands). */
export const SetUpHub = defineCommand(
  "SetUpHub",
  Type.Object({ setupToken: Type.String({ maxLength: 256 }), email: Email, password: Password }),
);
export const SignUp = defineCommand(
  "SignUp",
  Type.Object({
    email: Email,
    password: Password,
    invite: Type.Optional(Type.String({ maxLength: 256 })),
    /** Where it came from (the gateway's view): open sign-up is slowed per address. */
    address: Type.Optional(Type.String({ maxLength: 64 })),
  }),
);
/** The browser about to sign in: its session's id, chosen by the gateway, and its device. */
const SigningInBrowser = Type.Object({ session: Id, device: Type.String({ maxLength: 80 }) });
export const SignIn = defineCommand(
  "SignIn",
  Type.Object({
    email: Email,
    password: Password,
    address: Type.String({ maxLength: 64 }),
    /** When given, its BrowserSignedIn is stored before the answer (no RecordSignIn after). */
    browser: Type.Optional(SigningInBrowser),
  }),
);
export const ChangePassword = defineCommand(
  "ChangePassword",
  Type.Object({ by: Id, old: Password, password: Password }),
);
export const SetSignUpMode = defineCommand("SetSignUpMode", Type.Object({ by: Id, mode: Mode }));
export const CreateInvite = defineCommand(
  "CreateInvite",
  Type.Object({
    by: Id,
    uses: Type.Integer({ minimum: 1, maximum: 10_000 }),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 365 * 86_400 })),
  }),
);
export const RevokeInvite = defineCommand("RevokeInvite", Type.Object({ by: Id, invite: Id }));
export const SetAccountDisabled = defineCommand(
  "SetAccountDisabled",
  Type.Object({ by: Id, account: Id, disabled: Type.Boolean() }),
);
export const SetAccountRole = defineCommand(
  "SetAccountRole",
  Type.Object({ by: Id, account: Id, role: Role }),
);
export const WhoAmI = defineCommand("WhoAmI", Type.Object({ by: Id }));
/** The operator at the hub's console acts as an admin with this `by` (no account has it). */
export const CONSOLE_ACTOR = "console";

const BROWSER_USER = "browser ";

/**
 * The name of a browser's NATS user, which says the account it was minted for. nats-server
 * passes it on (`name_tag` of the Nats-Request-Info header) with a request that crosses a
 * shared service import, so a host's service knows which account asks.
 */
export function browserUserName(accountId: string): string {
  return `${BROWSER_USER}${accountId}`;
}

/** The account of a browser user's name; undefined for any other user. */
export function accountOfBrowserUser(name: string | undefined): string | undefined {
  if (!name?.startsWith(BROWSER_USER)) return undefined;
  const id = name.slice(BROWSER_USER.length);
  return /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : undefined;
}
export const FindAccount = defineCommand("FindAccount", Type.Object({ by: Id, email: Email }));
export const ListAccounts = defineCommand("ListAccounts", Type.Object({ by: Id }));
/** An account made at the console (an admin's choice of role; no invite). */
export const CreateAccount = defineCommand(
  "CreateAccount",
  Type.Object({ by: Id, email: Email, password: Password, role: Role }),
);
export const DeleteAccount = defineCommand("DeleteAccount", Type.Object({ by: Id, account: Id }));
export const SetAccountLimits = defineCommand(
  "SetAccountLimits",
  Type.Object({ by: Id, account: Id, limits: AccountLimitsSchema }),
);
/** A one-time link for the account's password (an admin's, or the console's). */
export const CreateResetLink = defineCommand(
  "CreateResetLink",
  Type.Object({
    by: Id,
    account: Id,
    ttlSeconds: Type.Integer({ minimum: 60, maximum: MAX_RESET_TTL_SECONDS }),
  }),
);
/** A new password through a reset link's token (`<account>.<n>.<secret>`). */
export const ResetPassword = defineCommand(
  "ResetPassword",
  Type.Object({ token: Type.String({ maxLength: 256 }), password: Password }),
);
/** The gateway signed a browser in to `account` (the hub's own services send this). */
export const RecordSignIn = defineCommand(
  "RecordSignIn",
  Type.Object({ account: Id, session: Id, device: Type.String({ maxLength: 80 }) }),
);
/** The gateway signed browsers of `account` out. */
export const RecordSignOut = defineCommand(
  "RecordSignOut",
  Type.Object({
    account: Id,
    sessions: Type.Array(Id, { minItems: 1, maxItems: 256 }),
    why: Type.Union(SignOutReasons.map((r) => Type.Literal(r))),
  }),
);
export const HubCommands = [
  SetUpHub,
  SignUp,
  SignIn,
  ChangePassword,
  SetSignUpMode,
  CreateInvite,
  RevokeInvite,
  SetAccountDisabled,
  SetAccountRole,
  DeleteAccount,
  WhoAmI,
  FindAccount,
  ListAccounts,
  CreateAccount,
  SetAccountLimits,
  CreateResetLink,
  ResetPassword,
  RecordSignIn,
  RecordSignOut,
] as const;

/** The answer to a command: what the gateway needs (never a hash). */
export type HubReply =
  | {
      ok: true;
      account?: AccountView;
      /** Only to the account itself (WhoAmI) and to admins (FindAccount, ListAccounts). */
      email?: string;
      accounts?: (AccountView & { email?: string })[];
      invite?: { id: string; token: string };
      /** A reset link's token (`<account>.<n>.<secret>`: shown once) and its expiry. */
      reset?: { token: string; expires: string };
    }
  | { ok: false; error: { code: string; message: string; retryAfterSeconds?: number } };

/** KV buckets of the hub. */
export const HubBuckets = {
  accounts: "hub-accounts",
  invites: "hub-invites",
  config: "hub-config",
  /** Emails, password hashes, invite secrets: mutable, one revision kept, erased on delete. */
  private: "hub-private",
  /** `<account>` → SessionsView: the account's signed-in browsers. */
  sessions: "hub-sessions",
} as const;

/** The hub's views of workspaces (shared/hub-workspaces.ts). */
export const HubWorkspaceBuckets = {
  /** `<wsid>` → HubWorkspaceView. */
  workspaces: "hub-workspaces",
  /** `<account>.<wsid>` → MembershipView. */
  memberships: "hub-memberships",
} as const;

export interface AccountView {
  id: string;
  role: AccountRole;
  status: "active" | "disabled" | "deleted";
  via: AccountOrigin;
  created: string;
  /** Set by an admin; else DEFAULT_ACCOUNT_LIMITS. */
  limits?: AccountLimits;
}

/** A signed-in browser of an account, as its sessions view keeps it. */
export interface SessionItem {
  id: string;
  device: string;
  signedIn: string;
}
export interface SessionsView {
  /** Oldest first. */
  sessions: SessionItem[];
}
/** …and as the account's page is told it: with its last use and whether it is this browser. */
export type SessionListItem = SessionItem & { lastUsed?: string; current: boolean };

export interface InviteView {
  id: string;
  uses: number;
  used: number;
  expires?: string;
  status: "open" | "used-up" | "revoked";
  created: string;
}

/** A sign-up invite as the admin's list shows it: an open one past its expiry says so. */
export type InviteItem = Omit<InviteView, "status"> & { status: InviteView["status"] | "expired" };

export interface HubConfigView {
  setUp: boolean;
  signUpMode: SignUpMode;
}

export type SetUpHubData = Static<typeof SetUpHub.schema>;
