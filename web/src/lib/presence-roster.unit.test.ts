import { describe, expect, it } from "vitest";
import { randomId } from "../../../shared/base64url.js";
import {
  MAX_PRESENCE_BYTES,
  PRESENCE_AWAY_EXPIRE_MS,
  PRESENCE_EXPIRE_MS,
  type PresenceBeat,
  pageIdOf,
} from "../../../shared/presence.js";
import { MAX_PAGES_PER_ACCOUNT, PresenceRoster, parsePresence } from "./presence-roster.js";

/** A page: its secret, its id, and its messages. */
function page(name = "Ada") {
  const key = randomId();
  const id = pageIdOf(key);
  return {
    key,
    id,
    beat: (extra: Partial<PresenceBeat> = {}) =>
      JSON.stringify({
        kind: "here",
        page: id,
        name,
        color: "#12a594",
        where: { tab: "editor", path: "/home/ada/a.ts" },
        ...extra,
      }),
    leave: () => JSON.stringify({ kind: "left", page: id, key }),
  };
}

describe("presence roster", () => {
  it("presence - a beat adds a page, the same beat again changes nothing, a move changes it", () => {
    const me = page("Me");
    const ada = page();
    const r = new PresenceRoster(me.id);
    expect(r.receive("a1", ada.beat({ hello: true }), 0)).toEqual({ changed: true, hello: true });
    expect(r.list()).toMatchObject([
      { account: "a1", page: ada.id, name: "Ada", where: { tab: "editor" } },
    ]);
    expect(r.receive("a1", ada.beat(), 1000).changed).toBe(false);
    expect(r.receive("a1", ada.beat({ where: { tab: "agents", thread: "t1" } }), 2000)).toEqual({
      changed: true,
      hello: false,
    });
    expect(r.list()[0]?.where).toEqual({ tab: "agents", thread: "t1" });
    // Its own echo is not someone else.
    expect(r.receive("a1", me.beat(), 3000).changed).toBe(false);
    expect(r.list()).toHaveLength(1);
  });

  it("presence - a page unheard for three beats expires; a hidden one is kept longer", () => {
    const ada = page();
    const bob = page("Bob");
    const r = new PresenceRoster(page().id);
    r.receive("a1", ada.beat(), 0);
    r.receive("a2", bob.beat({ away: true }), 0);
    expect(r.expire(PRESENCE_EXPIRE_MS)).toBe(false);
    expect(r.expire(PRESENCE_EXPIRE_MS + 1)).toBe(true);
    expect(r.list().map((p) => p.name)).toEqual(["Bob"]);
    expect(r.list()[0]?.away).toBe(true);
    expect(r.expire(PRESENCE_AWAY_EXPIRE_MS + 1)).toBe(true);
    expect(r.list()).toEqual([]);
  });

  it("presence - a leave removes its sender; one without the page's secret removes nobody", () => {
    const ada = page();
    const eve = page("Eve");
    const r = new PresenceRoster(page().id);
    r.receive("a1", ada.beat(), 0);
    r.receive("a2", eve.beat(), 0);
    // Eve knows Ada's id (it is in every beat) but not the secret behind it.
    const forged = [
      JSON.stringify({ kind: "left", page: ada.id, key: eve.key }),
      JSON.stringify({ kind: "left", page: ada.id, key: randomId() }),
    ];
    for (const f of forged) expect(r.receive("a2", f, 1).changed).toBe(false);
    expect(r.list().map((p) => p.name)).toEqual(["Ada", "Eve"]);
    // Even with Ada's real leave, a page of another account leaves only its own entry.
    expect(r.receive("a2", ada.leave(), 2).changed).toBe(false);
    expect(r.receive("a1", ada.leave(), 3).changed).toBe(true);
    expect(r.list().map((p) => p.name)).toEqual(["Eve"]);
    // A beat after the leave (a closing tab turning hidden, or a replay) does not revive it.
    expect(r.receive("a1", ada.beat({ away: true }), 4).changed).toBe(false);
    expect(r.list().map((p) => p.name)).toEqual(["Eve"]);
  });

  it("presence - the same page id under another account is another entry, not a takeover", () => {
    const ada = page();
    const r = new PresenceRoster(page().id);
    r.receive("a1", ada.beat(), 0);
    r.receive("a2", ada.beat({ name: "Not Ada" }), 0);
    expect(r.list().map((p) => `${p.account}:${p.name}`)).toEqual(["a1:Ada", "a2:Not Ada"]);
  });

  it("presence - bad messages are ignored: too big, not JSON, unknown fields, bad values, no account", () => {
    const ada = page();
    const r = new PresenceRoster(page().id);
    const bad = [
      "not json",
      "null",
      JSON.stringify({ kind: "here" }),
      ada.beat({ color: "red" }),
      ada.beat({ name: "" }),
      ada.beat({ name: "x".repeat(81) }),
      ada.beat({ where: { tab: "Editor<script>" } }),
      ada.beat({ where: { tab: "agents", thread: "a.b" } }),
      ada.beat({ where: { tab: "editor", path: "/a".repeat(2049) } }),
      ada.beat({ page: "p-short" }),
      JSON.stringify({ ...JSON.parse(ada.beat()), admin: true }),
      JSON.stringify({ kind: "left", page: ada.id }),
      ada.beat({ where: { tab: "files", path: "x".repeat(MAX_PRESENCE_BYTES) } }),
    ];
    for (const b of bad)
      expect(r.receive("a1", b, 0), b.slice(0, 80)).toEqual({
        changed: false,
        hello: false,
      });
    expect(r.receive(undefined, ada.beat(), 0).changed).toBe(false);
    expect(r.list()).toEqual([]);
    expect(parsePresence(new TextEncoder().encode(ada.beat()))?.kind).toBe("here");
  });

  it("presence - one account cannot fill the roster: its pages beyond the limit are ignored", () => {
    const r = new PresenceRoster(page().id);
    for (let i = 0; i < MAX_PAGES_PER_ACCOUNT + 5; i++) r.receive("flood", page(`F${i}`).beat(), 0);
    expect(r.list()).toHaveLength(MAX_PAGES_PER_ACCOUNT);
    expect(r.receive("a1", page().beat(), 0).changed).toBe(true);
    expect(r.list()).toHaveLength(MAX_PAGES_PER_ACCOUNT + 1);
  });
});
