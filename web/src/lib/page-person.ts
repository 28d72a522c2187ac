/**
 * Who this page is, as the workspace's other pages see it on cursors, terminal viewer lists
 * and presence avatars: a hosted workspace's member (the account's name and colour), or on
 * plus a name for this browser tab, made once per page so every place shows the same one.
 */
import { randomId } from "../../../shared/base64url.js";
import { PLUS_ACCOUNT } from "../../../shared/presence.js";
import type { WorkspaceConnection } from "./connection.js";

export interface Person {
  name: string;
  color: string;
}

/** The colours people are drawn in (a hosted account's is picked by its id). */
export const PERSON_COLORS = [
  "#e5484d",
  "#12a594",
  "#8e4ec6",
  "#f76b15",
  "#0090ff",
  "#d6409f",
  "#46a758",
] as const;

let thisTab: Person | undefined;

function browserName(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua)
    ? "Firefox"
    : /Chrom(e|ium)\//.test(ua)
      ? "Chrome"
      : /Safari\//.test(ua)
        ? "Safari"
        : "Browser";
  return `${browser} ${randomId().slice(0, 3)}`;
}

/** This page's person. */
export function pagePerson(conn: WorkspaceConnection): Person {
  if (conn.person) return conn.person;
  thisTab ??= {
    name: browserName(),
    color: PERSON_COLORS[Math.floor(Math.random() * PERSON_COLORS.length)]!,
  };
  return thisTab;
}

/**
 * The account this page announces itself under: a hosted workspace's member (undefined until
 * the page knows it), plus's one user.
 */
export function pageAccount(conn: WorkspaceConnection): string | undefined {
  return conn.hosted ? conn.account : PLUS_ACCOUNT;
}
