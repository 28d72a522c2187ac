/** The hub's views: accounts, invites and its configuration, from the HUB stream. */
import type { Envelope, StoredEvent } from "../../shared/envelope.js";
import {
  type AccountLifeEvent,
  AccountLifeEvents,
  type AccountSessionEvent,
  AccountSessionEvents,
  type AccountView,
  HubBuckets,
  type HubConfigEvent,
  HubConfigEvents,
  type HubConfigView,
  type InviteEvent,
  InviteEvents,
  type InviteView,
  type SessionsView,
} from "../../shared/hub.js";
import type { Projection } from "../runtime/projection.js";
import { DEFAULT_SIGN_UP_MODE } from "./deciders.js";

const typesOf = (defs: readonly { type: string }[]) => new Set(defs.map((d) => d.type));
const accountTypes = typesOf(AccountLifeEvents);
const inviteTypes = typesOf(InviteEvents);
const configTypes = typesOf(HubConfigEvents);
const sessionTypes = typesOf(AccountSessionEvents);
/** `hub.account.<id>` → id. */
const idOf = (subject: string) => subject.split(".")[2]!;

export const accountsProjection: Projection<AccountView, AccountLifeEvent> = {
  name: "hub-accounts",
  bucket: HubBuckets.accounts,
  canHandle: (e: Envelope): e is AccountLifeEvent => accountTypes.has(e.type),
  key: (e) => idOf(e.subject),
  evolve(view, { event, subject }: StoredEvent<AccountLifeEvent>) {
    switch (event.type) {
      case "AccountCreated":
        return {
          id: idOf(subject),
          role: event.data.role,
          status: "active",
          via: event.data.via,
          created: event.at,
        };
      case "AccountDisabled":
        return view && { ...view, status: "disabled" };
      case "AccountEnabled":
        return view && { ...view, status: "active" };
      case "AccountRoleChanged":
        return view && { ...view, role: event.data.role };
      case "PasswordChanged":
      case "ResetLinkCreated":
      case "PasswordReset":
        return view;
      case "AccountLimitsSet":
        return view && { ...view, limits: event.data };
      case "AccountDeleted":
        return null;
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};

/** Most browsers a sessions view lists (the gateway keeps at most MAX_SESSIONS an account). */
const MAX_LISTED = 256;

type SessionsInput = AccountSessionEvent | Extract<AccountLifeEvent, { type: "AccountDeleted" }>;

/** `<account>` → its signed-in browsers; gone with the account. */
export const sessionsProjection: Projection<SessionsView, SessionsInput> = {
  name: "hub-sessions",
  bucket: HubBuckets.sessions,
  canHandle: (e: Envelope): e is SessionsInput =>
    sessionTypes.has(e.type) || e.type === "AccountDeleted",
  key: (e) => idOf(e.subject),
  evolve(view, { event }: StoredEvent<SessionsInput>) {
    const sessions = view?.sessions ?? [];
    switch (event.type) {
      case "BrowserSignedIn":
        return {
          sessions: [
            ...sessions.filter((s) => s.id !== event.data.session),
            { id: event.data.session, device: event.data.device, signedIn: event.at },
          ].slice(-MAX_LISTED),
        };
      case "BrowserSignedOut": {
        const gone = new Set(event.data.sessions);
        return { sessions: sessions.filter((s) => !gone.has(s.id)) };
      }
      case "AccountDeleted":
        return null;
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};

export const invitesProjection: Projection<InviteView, InviteEvent> = {
  name: "hub-invites",
  bucket: HubBuckets.invites,
  canHandle: (e: Envelope): e is InviteEvent => inviteTypes.has(e.type),
  key: (e) => idOf(e.subject),
  evolve(view, { event, subject }: StoredEvent<InviteEvent>) {
    switch (event.type) {
      case "InviteCreated":
        return {
          id: idOf(subject),
          uses: event.data.uses,
          used: 0,
          ...(event.data.expires !== undefined && { expires: event.data.expires }),
          status: "open",
          created: event.at,
        };
      case "InviteUsed": {
        if (!view) return null;
        const used = view.used + 1;
        return { ...view, used, status: used >= view.uses ? "used-up" : view.status };
      }
      case "InviteRevoked":
        return view && { ...view, status: "revoked" };
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};

export const CONFIG_KEY = "config";

export const configProjection: Projection<HubConfigView, HubConfigEvent> = {
  name: "hub-config",
  bucket: HubBuckets.config,
  canHandle: (e: Envelope): e is HubConfigEvent => configTypes.has(e.type),
  key: () => CONFIG_KEY,
  evolve(view, { event }: StoredEvent<HubConfigEvent>) {
    const v = view ?? { setUp: false, signUpMode: DEFAULT_SIGN_UP_MODE };
    switch (event.type) {
      case "HubSetUp":
        return { ...v, setUp: true };
      case "SignUpModeChanged":
        return { ...v, signUpMode: event.data.mode };
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
