import { createUser } from "@nats-io/nkeys";
import { describe, expect, it } from "vitest";
import { CocalcError } from "./errors.js";
import {
  browserUserPermissions,
  consumerCreateProblem,
  MAX_HOSTED_MEMBERSHIPS,
  MAX_MEMBERSHIPS,
  type Membership,
  READER_SLOTS,
  type ReaderRequest,
  readerNames,
  readerPlan,
  userInboxPrefix,
  WorkspaceStreams,
} from "./hub-permissions.js";
import { hostSubjects } from "./subjects.js";

const user = createUser().getPublicKey();
const base = { accountId: "acct1", userNkeyPublic: user, hubDomain: "hub" };
/** One of this browser's own consumer names, and another browser's. */
const R = readerNames(user)[0]!;
const R_LAST = readerNames(user).at(-1)!;
const OTHERS = readerNames(createUser().getPublicKey())[0]!;

/** nats-server's subject matching (whole tokens, `*` one token, `>` the rest), for the tests. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== "*" && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

function canPublish(perms: ReturnType<typeof browserUserPermissions>, subject: string): boolean {
  return (
    perms.pub.allow.some((a) => matches(a, subject)) &&
    !perms.pub.deny.some((d) => matches(d, subject))
  );
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CocalcError ? err.code : "not a CocalcError";
  }
  return undefined;
}

describe("hub permissions", () => {
  const owner: Membership = { wsid: "w1", role: "owner", jsDomain: "host-a" };
  const viewer: Membership = { wsid: "w2", role: "viewer", jsDomain: "host-b" };
  const perms = browserUserPermissions({
    ...base,
    memberships: [owner, viewer],
    durables: ["fs", "terminals"],
  });

  it("hub permissions - workspace streams are those holding only ws.* subjects", () => {
    expect(WorkspaceStreams).toEqual([
      "WORKSPACES",
      "WS_AGENT_LOG",
      "WS_APPS",
      "WS_CHAT",
      "WS_DOCS",
      "WS_FS",
      "WS_KERNEL",
      "WS_TERM",
      "WS_TERM_LIFE",
    ]);
  });

  it.each([
    ["ws.w1.cmd.fs", true],
    // a notebook's kernel: commands (run a cell), requests (complete), its view and events
    ["ws.w1.cmd.kernels", true],
    ["ws.w1.req.kernels", true],
    ["$JS.host-a.API.DIRECT.GET.KV_kernels.$KV.kernels.w1.k1", true],
    ["$JS.host-a.API.DIRECT.GET.WS_KERNEL.ws.w1.kernel.k1.out", true],
    ["$JS.host-a.API.DIRECT.GET.KV_kernels.$KV.kernels.w9.k1", false],
    ["$JS.host-a.API.DIRECT.GET.WS_KERNEL.ws.w9.kernel.k1.out", false],
    ["ws.w9.cmd.kernels", false],
    ["ws.w1.req.fs", true],
    ["ws.w1.term.t1.input", true],
    ["ws.w1.term.t1.resize", true],
    ["ws.w1.presence.doc.d1", true],
    // workspace presence: on its own account's subject only (a viewer's too: it is there)
    ["ws.w1.presence.page.acct1", true],
    ["ws.w2.presence.page.acct1", true],
    ["ws.w1.presence.page.acct2", false],
    ["ws.w2.presence.page.acct2", false],
    ["ws.w9.presence.page.acct1", false],
    ["ws.w1.presence.page", false],
    ["ws.w1.presence.page.acct1.x", false],
    // its readers: the hub makes them on its own subject; it pulls, looks and deletes by name
    [`hubread.${user}`, true],
    [`hubread.${createUser().getPublicKey()}`, false],
    [`$JS.host-a.API.CONSUMER.MSG.NEXT.WS_FS.${R}`, true],
    [`$JS.host-a.API.CONSUMER.MSG.NEXT.WS_FS.${R_LAST}`, true],
    [`$JS.API.CONSUMER.MSG.NEXT.KV_hub-memberships.${R}`, true],
    // no consumer create of its own, in any form (a body could name any deliver subject)
    [`$JS.host-a.API.CONSUMER.CREATE.WS_FS.${R}.ws.w1.>`, false],
    [`$JS.host-a.API.CONSUMER.CREATE.KV_terms.${R}.$KV.terms.w1.*`, false],
    [`$JS.API.CONSUMER.CREATE.KV_hub-memberships.${R}.$KV.hub-memberships.acct1.*`, false],
    [`$JS.host-a.API.CONSUMER.INFO.WS_FS.${R}`, true],
    [`$JS.host-a.API.CONSUMER.DELETE.WS_FS.${R}`, true],
    // any other consumer on a host (another browser's, a service's durable) is not its own
    ["$JS.host-a.API.CONSUMER.CREATE.WS_FS.oc_1.ws.w1.>", false],
    ["$JS.host-a.API.CONSUMER.CREATE.KV_terms.KV_WATCHER_x.$KV.terms.w1.*", false],
    [`$JS.host-a.API.CONSUMER.MSG.NEXT.WS_FS.${OTHERS}`, false],
    ["$JS.host-a.API.CONSUMER.MSG.NEXT.WS_TERM.terminals-w9", false],
    ["$JS.host-a.API.CONSUMER.DELETE.WS_TERM.terminals-w1", false],
    ["$JS.host-a.API.CONSUMER.INFO.WS_TERM.agents-w9", false],
    [`$JS.host-a.API.CONSUMER.CREATE.WS_FS.${R}.ws.w9.>`, false],
    [`$JS.host-a.API.CONSUMER.CREATE.KV_terms.${R}.$KV.terms.w9.*`, false],
    [`$JS.host-a.API.CONSUMER.CREATE.KV_terms.${R}.$KV.terms.>`, false],
    ["$JS.host-a.API.DIRECT.GET.KV_settings.$KV.settings.w1", true],
    ["$JS.host-a.API.DIRECT.GET.WS_TERM.ws.w1.term.t1.out", true],
    // the hub's own domain is checked after nats-server maps it to the local form
    ["$JS.API.DIRECT.GET.KV_accounts.$KV.accounts.acct1", true],
    ["$JS.hub.API.DIRECT.GET.KV_accounts.$KV.accounts.acct1", false],
    ["$JS.FC.KV_hub-memberships.x.y", false],
    ["$JS.FC.KV_terms.x.y", false],
    // a viewer reads but neither commands nor types
    ["ws.w2.cmd.fs", false],
    // ... runs no cell, starts, interrupts or restarts no kernel, but sees them and their outputs
    ["ws.w2.cmd.kernels", false],
    ["ws.w2.req.kernels", false],
    ["$JS.host-b.API.DIRECT.GET.KV_kernels.$KV.kernels.w2.k1", true],
    ["$JS.host-b.API.DIRECT.GET.WS_KERNEL.ws.w2.kernel.k1.life", true],
    ["ws.w2.req.fs", false],
    ["ws.w2.term.t1.input", false],
    ["ws.w2.term.t1.resize", false],
    ["ws.w2.term.t1.viewer", true],
    // ... and asks what only reads: listings, a file's start, opening a document
    ["ws.w2.read.fs", true],
    ["ws.w2.read.docs", true],
    ["ws.w2.read.fs.x", false],
    ["ws.w9.read.fs", false],
    [`$JS.host-b.API.CONSUMER.MSG.NEXT.WS_TERM.${R}`, true],
    // the wrong domain for a workspace, or no domain (the legacy $JS.API prefix)
    [`$JS.host-b.API.CONSUMER.CREATE.WS_FS.${R}.ws.w1.>`, false],
    [`$JS.API.CONSUMER.CREATE.WS_FS.${R}.ws.w1.>`, false],
    // legacy JS API forms
    ["$JS.host-a.API.CONSUMER.CREATE.WS_FS", false],
    [`$JS.host-a.API.CONSUMER.CREATE.WS_FS.${R}`, false],
    ["$JS.host-a.API.CONSUMER.DURABLE.CREATE.WS_FS.x", false],
    ["$JS.host-a.API.STREAM.MSG.GET.WS_FS", false],
    ["$JS.host-a.API.DIRECT.GET.WS_FS", false],
    ["$JS.host-a.API.STREAM.INFO.WS_FS", false],
    ["$JS.host-a.API.STREAM.NAMES", false],
    ["$JS.host-a.API.CONSUMER.NAMES.WS_FS", false],
    ["$JS.host-a.API.INFO", false],
    // services' durables
    ["$JS.host-a.API.CONSUMER.CREATE.WS_FS.fs.ws.w1.>", false],
    ["$JS.host-a.API.CONSUMER.INFO.WS_TERM.terminals", false],
    ["$JS.host-a.API.CONSUMER.MSG.NEXT.WS_TERM.terminals", false],
    ["$JS.host-a.API.CONSUMER.DELETE.WS_TERM.terminals", false],
    // writes: events and view keys
    ["ws.w1.fs.created", false],
    ["$KV.terms.w1.t1", false],
    ["$JS.API.DIRECT.GET.KV_accounts.$KV.accounts.acct2", false],
  ])("hub permissions - publish %s → %s", (subject, allowed) => {
    expect(canPublish(perms, subject)).toBe(allowed);
  });

  it("hub permissions - subscribes to its own inbox prefix, feeds and presence only", () => {
    expect(perms.sub.allow.sort()).toEqual(
      [
        `${userInboxPrefix(user)}.>`,
        "ws.w1.feed.>",
        "ws.w1.presence.doc.*",
        "ws.w1.presence.page.*",
        "ws.w2.feed.>",
        "ws.w2.presence.doc.*",
        "ws.w2.presence.page.*",
      ].sort(),
    );
  });

  it("hub permissions - an owner's browser can neither open nor hear a byte pipe (SSH, app proxy) to a host", () => {
    const pipe = hostSubjects("host-a").pipe("w1", "pipe0001abcd");
    expect(canPublish(perms, pipe.toHost)).toBe(false);
    expect(canPublish(perms, pipe.fromHost)).toBe(false);
    expect(canPublish(perms, hostSubjects("host-a").workspaceCommand("w1"))).toBe(false);
    expect(perms.sub.allow.some((a) => matches(a, pipe.fromHost) || matches(a, pipe.toHost))).toBe(
      false,
    );
  });

  it("hub permissions - a browser's reader names are its own, as many as READER_SLOTS", () => {
    const names = readerNames(user);
    expect(new Set(names).size).toBe(READER_SLOTS);
    expect(names.every((n) => /^r\d+_[A-Z2-7]{20}$/.test(n))).toBe(true);
    expect(names).not.toContain(OTHERS);
  });

  it("hub permissions - no membership: only its inbox and its account's view", () => {
    const p = browserUserPermissions({ ...base, memberships: [] });
    expect(p.sub.allow).toEqual([`${userInboxPrefix(user)}.>`]);
    expect(p.pub.allow.every((s) => s.startsWith("$JS.API.") || s === `hubread.${user}`)).toBe(
      true,
    );
  });

  it("hub permissions - a workspace on the hub's own domain uses the local API form", () => {
    const p = browserUserPermissions({
      ...base,
      memberships: [{ wsid: "w1", role: "owner", jsDomain: "hub" }],
    });
    expect(canPublish(p, `$JS.API.CONSUMER.MSG.NEXT.WS_FS.${R}`)).toBe(true);
    expect(canPublish(p, `$JS.API.DIRECT.GET.WS_FS.ws.w1.fs.created`)).toBe(true);
    expect(canPublish(p, "$JS.API.CONSUMER.CREATE.WS_FS")).toBe(false);
    expect(canPublish(p, "$JS.API.DIRECT.GET.WS_FS")).toBe(false);
  });

  it.each([
    ["a bad user key", { userNkeyPublic: "Ubad" }],
    ["an account key instead of a user key", { userNkeyPublic: `A${user.slice(1)}` }],
    ["a bad account id", { accountId: "a.b" }],
    ["a bad hub domain", { hubDomain: "a.b" }],
    ["a bad wsid", { memberships: [{ ...owner, wsid: "w*" }] }],
    ["a bad role", { memberships: [{ ...owner, role: "admin" }] }],
    ["a bad domain", { memberships: [{ ...owner, jsDomain: "x>" }] }],
    ["a workspace twice", { memberships: [owner, { ...owner, role: "viewer" }] }],
    ["a bad durable", { memberships: [], durables: ["a b"] }],
    ["memberships not a list", { memberships: "w1" }],
    [
      "more workspaces on their hosts than fit",
      {
        memberships: Array.from({ length: MAX_HOSTED_MEMBERSHIPS + 1 }, (_, i) => ({
          ...owner,
          wsid: `w${i}`,
          jsDomain: "host-h1",
        })),
      },
    ],
    [
      "more memberships than fit",
      {
        memberships: Array.from({ length: MAX_MEMBERSHIPS + 1 }, (_, i) => ({
          ...owner,
          wsid: `w${i}`,
        })),
      },
    ],
  ])("hub permissions - %s is ERR_HUB_NATS_INPUT", (_what, patch) => {
    expect(
      codeOf(() =>
        browserUserPermissions({ ...base, memberships: [], ...patch } as unknown as Parameters<
          typeof browserUserPermissions
        >[0]),
      ),
    ).toBe("ERR_HUB_NATS_INPUT");
  });
});

describe("consumer create bodies", () => {
  const inbox = userInboxPrefix(user);
  const subject = "$JS.host-a.API.CONSUMER.CREATE.KV_terms.KV_WATCHER_1.$KV.terms.w1.*";
  const body = (config: Record<string, unknown>) =>
    JSON.stringify({ stream_name: "KV_terms", config });
  const ok = { name: "KV_WATCHER_1", filter_subject: "$KV.terms.w1.*" };

  it.each([
    ["a kv.watch push consumer", { ...ok, deliver_subject: `${inbox}.x1` }, undefined],
    ["an ordered pull consumer", ok, undefined],
    ["delivery onto another subject", { ...ok, deliver_subject: "ws.w2.cmd.fs" }, /own inbox/],
    ["delivery to another inbox", { ...ok, deliver_subject: "_INBOX.x" }, /own inbox/],
    ["a durable", { ...ok, durable_name: "KV_WATCHER_1" }, /ephemeral/],
    ["another filter", { ...ok, filter_subject: "$KV.terms.w2.*" }, /filter/],
    ["several filters", { ...ok, filter_subjects: ["a", "b"] }, /one filter/],
    ["another name", { ...ok, name: "fs" }, /name/],
    ["a deliver group", { ...ok, deliver_group: "g" }, /group/],
  ])("hub permissions - %s", (_what, config, want) => {
    const problem = consumerCreateProblem(subject, body(config), inbox);
    if (want === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(want);
  });

  it("hub permissions - other subjects and bad bodies", () => {
    expect(consumerCreateProblem("ws.w1.cmd.fs", "{", inbox)).toBeUndefined();
    expect(consumerCreateProblem("$JS.API.CONSUMER.INFO.S.n", "", inbox)).toBeUndefined();
    expect(consumerCreateProblem(subject, "{", inbox)).toMatch(/JSON/);
    expect(consumerCreateProblem(subject, "{}", inbox)).toMatch(/config/);
  });
});

describe("reader plans", () => {
  const key = createUser().getPublicKey();
  const [name] = readerNames(key);
  const ms: Membership[] = [
    { wsid: "w1", role: "viewer", jsDomain: "host-a", hostId: "a" },
    { wsid: "w2", role: "owner" },
  ];
  const o = { userNkeyPublic: key, accountId: "acct1", memberships: ms, hubDomain: "hub" };
  const ask = (r: Partial<ReaderRequest>) =>
    readerPlan(
      { stream: "WS_FS", filter: "ws.w1.fs.>", name: name!, from: { all: true }, ...r },
      o,
    );

  it("reader plans - its workspace's streams and views on its host, in the host's domain", () => {
    expect(ask({ wsid: "w1" })).toEqual({
      domain: "host-a",
      stream: "WS_FS",
      config: { name, filter_subject: "ws.w1.fs.>", deliver_policy: "all" },
    });
    expect(
      ask({
        wsid: "w1",
        stream: "KV_terms",
        filter: "$KV.terms.w1.*",
        from: { lastPerSubject: true },
      }).config,
    ).toEqual({ name, filter_subject: "$KV.terms.w1.*", deliver_policy: "last_per_subject" });
    expect(ask({ wsid: "w1", from: { seq: 7 } }).config.opt_start_seq).toBe(7);
    // A viewer's notebook page: the kernels' view and a kernel's events, from the start.
    expect(
      ask({
        wsid: "w1",
        stream: "KV_kernels",
        filter: "$KV.kernels.w1.*",
        from: { lastPerSubject: true },
      }).domain,
    ).toBe("host-a");
    expect(ask({ wsid: "w1", stream: "WS_KERNEL", filter: "ws.w1.kernel.k1.*" }).domain).toBe(
      "host-a",
    );
  });

  it("reader plans - on the hub: its account, its list, its workspaces' records and hosts", () => {
    for (const [stream, filter] of [
      ["KV_accounts", "$KV.accounts.acct1"],
      ["KV_hub-memberships", "$KV.hub-memberships.acct1.*"],
      ["KV_hub-workspaces", "$KV.hub-workspaces.w2"],
      ["KV_workspaces", "$KV.workspaces.w1"],
      ["KV_hosts", "$KV.hosts.a"],
      ["KV_hub-sessions", "$KV.hub-sessions.acct1"],
    ])
      expect(ask({ stream, filter }).domain).toBe("hub");
  });

  it.each([
    ["another browser's name", { wsid: "w1", name: readerNames(createUser().getPublicKey())[0] }],
    ["a service's durable name", { wsid: "w1", name: "terminals-w1" }],
    ["another workspace's stream", { wsid: "w1", filter: "ws.w9.fs.>" }],
    ["every workspace", { wsid: "w1", filter: "ws.*.fs.>" }],
    ["a prefix that is not a token", { wsid: "w1", filter: "ws.w1x.fs.>" }],
    [
      "a view key of another workspace",
      { wsid: "w1", stream: "KV_terms", filter: "$KV.terms.w9.*" },
    ],
    ["a view of the wrong stream", { wsid: "w1", stream: "WS_FS", filter: "$KV.terms.w1.*" }],
    ["all of a view", { wsid: "w1", stream: "KV_terms", filter: "$KV.terms.>" }],
    [
      "a stream that is not the workspace's",
      { wsid: "w1", stream: "PLACEMENTS", filter: "ws.w1.>" },
    ],
    ["an empty token", { wsid: "w1", filter: "ws.w1..x" }],
    ["a bad start", { wsid: "w1", from: { seq: 0 } as never }],
    ["on the hub: another account", { stream: "KV_accounts", filter: "$KV.accounts.acct2" }],
    [
      "on the hub: another list",
      { stream: "KV_hub-memberships", filter: "$KV.hub-memberships.acct2.*" },
    ],
    [
      "on the hub: another account's browsers",
      { stream: "KV_hub-sessions", filter: "$KV.hub-sessions.acct2" },
    ],
    [
      "on the hub: every account's browsers",
      { stream: "KV_hub-sessions", filter: "$KV.hub-sessions.>" },
    ],
    [
      "on the hub: a workspace not its own",
      { stream: "KV_hub-workspaces", filter: "$KV.hub-workspaces.w9" },
    ],
    ["on the hub: a host not its workspaces'", { stream: "KV_hosts", filter: "$KV.hosts.b" }],
    ["on the hub: a workspace stream", { stream: "WS_FS", filter: "ws.w1.fs.>" }],
  ] as const)("reader plans - %s is ERR_HUB_NATS_INPUT", (_what, r) => {
    expect(codeOf(() => ask(r as Partial<ReaderRequest>))).toBe("ERR_HUB_NATS_INPUT");
  });

  it("reader plans - a workspace not its own, or not on a host yet, is ERR_WORKSPACE_NOT_FOUND", () => {
    expect(codeOf(() => ask({ wsid: "w9" }))).toBe("ERR_WORKSPACE_NOT_FOUND");
    expect(codeOf(() => ask({ wsid: "w2", filter: "ws.w2.fs.>" }))).toBe("ERR_WORKSPACE_NOT_FOUND");
  });
});
