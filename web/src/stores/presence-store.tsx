/**
 * Who else has the workspace open, and where (shared/presence.ts): this page beats on its
 * account's presence subject (at once when it moves or is hidden, and with `hello` when it
 * arrives, so the others answer straight away), hears every page's beats into a roster, and
 * says it leaves when the page goes. Plus's tabs and a hosted workspace's members (viewers
 * too) are alike.
 */
import {
  type Accessor,
  createContext,
  createSignal,
  type JSX,
  onCleanup,
  useContext,
} from "solid-js";
import { randomId } from "../../../shared/base64url.js";
import {
  PRESENCE_BEAT_MS,
  type PresenceBeat,
  type PresenceLeave,
  type PresenceWhere,
  pageIdOf,
} from "../../../shared/presence.js";
import { accountOfPresenceSubject } from "../../../shared/subjects.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { type Person, pageAccount, pagePerson } from "../lib/page-person.js";
import { openPresenceChannel } from "../lib/presence-channel.js";
import { PresenceRoster, type PresentPage } from "../lib/presence-roster.js";
import { useConnection } from "./connection-store.js";

export type { PresentPage } from "../lib/presence-roster.js";

export interface PresenceStore {
  /** This page, as the others see it. */
  readonly me: () => Person;
  /** The other pages here now (this browser's other tabs included), by name. */
  readonly others: Accessor<PresentPage[]>;
  /** Where this page is now; the others hear of a change at once. */
  setWhere(where: PresenceWhere): void;
  /** A person by account: the workspace's member, else a page here of that account. */
  personOf(account: string): Person | undefined;
}

/** Answers to `hello`s are sent at most this often. */
const ANSWER_MS = 1000;
/** The longest path a beat carries (PresenceWhereSchema's limit). */
const MAX_WHERE_PATH = 4096;

export function createPresenceStore(conn: WorkspaceConnection): PresenceStore {
  const key = randomId();
  const page = pageIdOf(key);
  const roster = new PresenceRoster(page);
  const [others, setOthers] = createSignal<PresentPage[]>([]);
  let where: PresenceWhere = { tab: "files" };
  let hello = true;
  let answered = 0;
  // Once it said it leaves, the page says nothing more (a closing tab turns hidden after
  // its pagehide, and an away beat then would bring it back for the others).
  let left = false;

  const show = () => setOthers(roster.list());
  const send = (message: PresenceBeat | PresenceLeave) => {
    const account = pageAccount(conn);
    if (left || account === undefined) return false;
    return channel.send(account, JSON.stringify(message));
  };
  const beat = () => {
    const { name, color } = pagePerson(conn);
    const sent = send({
      kind: "here",
      page,
      name: name.slice(0, 80) || "someone",
      color,
      where,
      ...(document.hidden && { away: true }),
      ...(hello && { hello: true }),
    });
    if (sent) hello = false;
  };
  const channel = openPresenceChannel(
    conn,
    (subject, data) => {
      const r = roster.receive(accountOfPresenceSubject(subject), data, Date.now());
      if (r.changed) show();
      if (r.hello && Date.now() - answered >= ANSWER_MS) {
        answered = Date.now();
        beat();
      }
    },
    () => {
      hello = true;
      beat();
    },
  );

  const timer = setInterval(() => {
    beat();
    if (roster.expire(Date.now())) show();
  }, PRESENCE_BEAT_MS);
  const onVisibility = () => beat();
  const leave = () => {
    send({ kind: "left", page, key });
    left = true;
  };
  const onPageHide = (e: PageTransitionEvent) => {
    if (!e.persisted) leave();
  };
  document.addEventListener("visibilitychange", onVisibility);
  window.addEventListener("pagehide", onPageHide);
  onCleanup(() => {
    leave();
    channel.stop();
    clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisibility);
    window.removeEventListener("pagehide", onPageHide);
  });

  return {
    me: () => pagePerson(conn),
    others,
    setWhere(asked) {
      // A path too long for a beat is left out rather than making the beat invalid.
      const { path, ...rest } = asked;
      const next: PresenceWhere = path && path.length <= MAX_WHERE_PATH ? asked : rest;
      if (next.tab === where.tab && next.path === where.path && next.thread === where.thread)
        return;
      where = next;
      beat();
    },
    personOf(account) {
      const member = conn.memberPerson?.(account);
      if (member) return member;
      const here = others().find((p) => p.account === account);
      return here && { name: here.name, color: here.color };
    },
  };
}

const PresenceContext = createContext<PresenceStore>();

export function PresenceProvider(props: { children: JSX.Element }) {
  const store = createPresenceStore(useConnection());
  return <PresenceContext.Provider value={store}>{props.children}</PresenceContext.Provider>;
}

export function usePresence(): PresenceStore {
  const store = useContext(PresenceContext);
  if (!store) throw new Error("usePresence called outside <PresenceProvider>");
  return store;
}
