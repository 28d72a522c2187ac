/**
 * Workspace presence: who has the workspace open now, and where. Each page announces itself
 * on its account's presence subject (`presenceSubjects` in shared/subjects.ts, core NATS,
 * never stored) with a heartbeat, and says when it leaves; the others keep a roster of what
 * they heard and drop a page after a few missed beats. Everything here is the wire contract.
 *
 * A page's id is a commitment to a secret only that page knows (`pageIdOf(key)`): its leave
 * carries the secret, so a page that only heard the beats cannot make another one disappear.
 * Names and colours are what each page says of itself; on launchpad the account is the
 * subject's, which the hub's permissions let a page publish on for its own account only.
 */
import { type Static, Type } from "@sinclair/typebox";
import { bytesToBase64url } from "./base64url.js";
import { sha256 } from "./sha256.js";

/** The account token of plus's pages (its one user; turns there are by "user" too). */
export const PLUS_ACCOUNT = "user";

/** A page beats this often. */
export const PRESENCE_BEAT_MS = 10_000;
/** A page not heard for this long (three beats missed) is gone. */
export const PRESENCE_EXPIRE_MS = 35_000;
/**
 * A hidden page (a background tab, whose timers the browser slows to about one a minute) is
 * kept this long instead, and shown as away.
 */
export const PRESENCE_AWAY_EXPIRE_MS = 150_000;
/** The largest presence message read; a bigger one is ignored. */
export const MAX_PRESENCE_BYTES = 16_384;

const PageId = Type.String({ pattern: "^p[A-Za-z0-9_-]{22}$" });

/** Where in the workspace a page is: its tab, and the file or agents thread it shows. */
export const PresenceWhereSchema = Type.Object(
  {
    tab: Type.String({ pattern: "^[a-z]{1,20}$" }),
    /** The Files tab's folder, the Editor's document, or the Agents tab's chat file. */
    path: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    /** The agents thread it shows. */
    thread: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" })),
  },
  { additionalProperties: false },
);
export type PresenceWhere = Static<typeof PresenceWhereSchema>;

/** A page is here: who (as it says) and where; `hello` asks the others to answer at once. */
export const PresenceBeatSchema = Type.Object(
  {
    kind: Type.Literal("here"),
    page: PageId,
    name: Type.String({ minLength: 1, maxLength: 80 }),
    color: Type.String({ pattern: "^#[0-9a-fA-F]{6}$" }),
    where: PresenceWhereSchema,
    away: Type.Optional(Type.Boolean()),
    hello: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type PresenceBeat = Static<typeof PresenceBeatSchema>;

/** A page leaves: `key` is the secret whose commitment is its id. */
export const PresenceLeaveSchema = Type.Object(
  {
    kind: Type.Literal("left"),
    page: PageId,
    key: Type.String({ pattern: "^[A-Za-z0-9_-]{22,86}$" }),
  },
  { additionalProperties: false },
);
export type PresenceLeave = Static<typeof PresenceLeaveSchema>;

export const PresenceMessageSchema = Type.Union([PresenceBeatSchema, PresenceLeaveSchema]);
export type PresenceMessage = Static<typeof PresenceMessageSchema>;

/** The page id that commits to `key` (the secret a page's leave reveals). */
export function pageIdOf(key: string): string {
  return `p${bytesToBase64url(sha256(`cocalc-presence-page:${key}`)).slice(0, 22)}`;
}
