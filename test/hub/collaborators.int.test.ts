/**
 * A workspace shared by its owner, with a real hub (operator-mode nats-server, its gateway)
 * and the host it runs joined to itself (real btrfs, podman). Members are added by email and
 * by one-time invite links; a viewer's own NATS login, used directly through the gateway, is
 * refused on every subject that changes something and reads everything; a collaborator
 * works; a member demoted or removed loses its open connections at once, and what it mints
 * next carries only what it still has.
 */
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { createUser, type KeyPair } from "@nats-io/nkeys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { hubFilesPaths } from "../../services/gateway/hub-files.js";
import {
  HUB_JOIN_PATH,
  HUB_WORKSPACES_PATH,
  hubSharePaths,
} from "../../services/gateway/hub-workspaces.js";
import { PrivateStore, secretHash } from "../../services/hub/private-store.js";
import { readerNames, readerSubject } from "../../shared/hub-permissions.js";
import {
  HubWorkspaceBuckets,
  type HubWorkspaceView,
  type MembershipView,
} from "../../shared/hub-workspaces.js";
import {
  docSubjects,
  Streams,
  terminalSubjects,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { newTerminalId } from "../../shared/terminals.js";
import { type HubBrowser, hubBrowser } from "../helpers/hub-browser.js";
import {
  createHubAccount,
  type HostMachine,
  hubHostUnsupported,
  runningHubWorkspace,
  setupHostMachine,
  startTestHub,
  viewEntry,
} from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";
import { publishOutcome, viewerChanges, watchViolations } from "../helpers/nats-permissions.js";

const HOST = "hubcollab1";
const unsupported = await hubHostUnsupported();
if (unsupported) console.warn(`hub collaborators skipped: ${unsupported}`);

const HOME = "/home/user";

describe.skipIf(unsupported !== undefined)("hub collaborators and viewers", () => {
  let m: HostMachine;
  let hub: RunningHub;
  let base: string;
  let wsid: string;
  const ids: Record<string, string> = {};
  const people: Record<string, HubBrowser> = {};
  const open: NatsConnection[] = [];

  const view = <T>(bucket: string, key: string) => viewEntry<T>(hub.nc, bucket, key);
  const share = () => hubSharePaths(wsid);
  const json = async (res: Response) => ({ status: res.status, ...(await res.json()) });
  /** One request/reply on `nc` (a service's answer). */
  const ask = async (nc: NatsConnection, subject: string, body: unknown) =>
    (await nc.request(subject, JSON.stringify(body), { timeout: 20_000 })).json<{
      ok: boolean;
      result?: Record<string, unknown>;
      error?: { code: string; message: string };
    }>();
  const connect = async (who: string, ws?: string, key?: KeyPair) => {
    const c = await people[who]!.connect(ws, key);
    open.push(c.nc);
    watchViolations(c.nc);
    return c;
  };
  /**
   * A terminal's output read the way a page reads it: a reader the hub's reader service makes
   * for the connection's key, pulled from until `until` matches.
   */
  const terminalOutput = async (
    c: { nc: NatsConnection; key: KeyPair; login: { memberships: { jsDomain?: string }[] } },
    until: RegExp,
  ) => {
    const name = readerNames(c.key.getPublicKey())[0]!;
    const made = (
      await c.nc.request(
        readerSubject(c.key.getPublicKey()),
        JSON.stringify({
          wsid,
          stream: Streams.WS_TERM,
          filter: terminalSubjects(wsid, tid).out,
          name,
          from: { all: true },
        }),
        { timeout: 15_000 },
      )
    ).json<{ ok: boolean; error?: { message: string } }>();
    if (!made.ok) throw new Error(`no reader: ${made.error?.message}`);
    const domain = c.login.memberships[0]!.jsDomain!;
    const consumer = await jetstream(c.nc, { domain }).consumers.get(Streams.WS_TERM, name);
    let seen = "";
    while (!until.test(seen)) {
      const msg = await consumer.next({ expires: 20_000 });
      if (!msg) throw new Error(`the terminal's output ended before ${until}: ${seen}`);
      seen += msg.string();
    }
    await consumer.delete().catch(() => undefined);
    return seen;
  };
  const readAsOwner = async (path: string) => {
    const owner = await connect("ann", wsid);
    const r = await ask(owner.nc, workspaceSubjects(wsid).read("fs"), { op: "read", path });
    await owner.nc.close();
    return r;
  };

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    hub = await startTestHub(join(m.dir, "hub"), {
      localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST },
    });
    base = new URL(hub.url).origin;
    for (const [who, role] of [
      ["ann", "admin"],
      ["bob", "user"],
      ["vic", "user"],
      ["cat", "user"],
      ["dan", "user"],
    ] as const)
      ids[who] = await createHubAccount(hub.nc, `${who}@example.com`, role);
    wsid = await runningHubWorkspace(hub.nc, {
      hostId: HOST,
      owner: ids.ann!,
      rootfs: await m.rootfs("c"),
      image: "bb",
      title: "Shared",
      quota: { diskMb: 400, memoryMb: 256 },
    });
    for (const who of Object.keys(ids)) people[who] = await hubBrowser(base, `${who}@example.com`);
    // Its services answer once the owner's first upload goes through.
    await until("the owner's note uploaded", async () => {
      const q = new URLSearchParams({ dir: "~", name: "note.txt", conflict: "replace" });
      const up = await fetch(`${base}${hubFilesPaths(wsid).upload}?${q}`, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${people.ann!.credential}`,
          origin: base,
          "content-type": "application/octet-stream",
        },
        body: "the owner's note\n",
      });
      return up.status === 201 ? true : undefined;
    });
  }, 400_000);

  afterAll(async () => {
    for (const nc of open) await nc.close().catch(() => undefined);
    await hub?.stop();
    await m?.cleanup();
  });

  it("hub collaborators - an owner adds members by email: only an existing account, only by an owner, once", async () => {
    const bob = await json(
      await people.ann!.api("POST", share().members, {
        email: " Bob@Example.com ",
        role: "collaborator",
      }),
    );
    expect(bob).toMatchObject({
      status: 200,
      member: { account: ids.bob, role: "collaborator", name: "bob" },
    });
    expect(
      (
        await json(
          await people.ann!.api("POST", share().members, {
            email: "vic@example.com",
            role: "viewer",
          }),
        )
      ).status,
    ).toBe(200);
    // Who has no account is said in words; nothing else is listed.
    expect(
      await json(
        await people.ann!.api("POST", share().members, {
          email: "nobody@example.com",
          role: "viewer",
        }),
      ),
    ).toMatchObject({ status: 404, code: "ERR_HUB_ACCOUNT_NOT_FOUND" });
    expect(
      await json(
        await people.ann!.api("POST", share().members, {
          email: "bob@example.com",
          role: "viewer",
        }),
      ),
    ).toMatchObject({ status: 409, code: "ERR_HUB_MEMBER_EXISTS" });
    // A collaborator does not change who is in, nor learns whether an email has an account.
    expect(
      await json(
        await people.bob!.api("POST", share().members, { email: "cat@example.com", role: "owner" }),
      ),
    ).toMatchObject({ status: 403, code: "ERR_HUB_FORBIDDEN" });
    expect(
      await json(
        await people.bob!.api("POST", share().members, {
          email: "nobody@example.com",
          role: "viewer",
        }),
      ),
    ).toMatchObject({ status: 403, code: "ERR_HUB_FORBIDDEN" });
    // A stranger hears there is no such workspace.
    expect(
      await json(
        await people.dan!.api("POST", share().members, { email: "dan@example.com", role: "owner" }),
      ),
    ).toMatchObject({ status: 404, code: "ERR_WORKSPACE_NOT_FOUND" });
    // The last owner stays.
    expect(await json(await people.ann!.api("DELETE", share().member(ids.ann!)))).toMatchObject({
      status: 409,
      code: "ERR_HUB_LAST_OWNER",
    });
    // The views: each member's list has it with its role, the workspace its members.
    await until("the views", async () =>
      (await view<MembershipView>(HubWorkspaceBuckets.memberships, `${ids.vic}.${wsid}`))?.role ===
      "viewer"
        ? true
        : undefined,
    );
    expect(
      (await view<MembershipView>(HubWorkspaceBuckets.memberships, `${ids.bob}.${wsid}`))?.role,
    ).toBe("collaborator");
    expect((await view<HubWorkspaceView>(HubWorkspaceBuckets.workspaces, wsid))?.members).toEqual({
      [ids.ann!]: "owner",
      [ids.bob!]: "collaborator",
      [ids.vic!]: "viewer",
    });
    // Members see each other's names; only owners see emails.
    const seen = await json(await people.vic!.api("GET", share().members));
    expect(seen.members).toHaveLength(3);
    expect(seen.members.every((x: { email?: string }) => x.email === undefined)).toBe(true);
    const byOwner = await json(await people.ann!.api("GET", share().members));
    expect(byOwner.members.map((x: { email?: string }) => x.email).sort()).toEqual([
      "ann@example.com",
      "bob@example.com",
      "vic@example.com",
    ]);
  });

  let tid: string;

  it("hub collaborators - a collaborator works: writes files, a terminal as the workspace user", async () => {
    const bob = await connect("bob", wsid);
    expect(bob.login.memberships).toMatchObject([{ wsid, role: "collaborator" }]);
    const wrote = await ask(bob.nc, workspaceSubjects(wsid).request("fs"), {
      op: "write",
      path: `${HOME}/by-bob.txt`,
      content: "bob was here\n",
      encoding: "utf8",
      exclusive: true,
    });
    expect(wrote).toMatchObject({ ok: true });
    // A collaborator names a version of a document; the event says who did.
    const path = `${HOME}/by-bob.txt`;
    const doc = await ask(bob.nc, workspaceSubjects(wsid).command("docs"), {
      type: "OpenDocument",
      data: { path },
    });
    expect(doc).toMatchObject({ ok: true });
    const theDoc = doc as unknown as { seqs: number[]; result: { doc: string } };
    const named = await ask(bob.nc, workspaceSubjects(wsid).command("docs"), {
      type: "NameVersion",
      data: { path, seq: theDoc.seqs[0], name: "bob's first" },
    });
    expect(named).toMatchObject({ ok: true });
    const jsm = await jetstreamManager(hub.nc, {
      domain: bob.login.memberships[0]!.jsDomain!,
      checkAPI: false,
    });
    const m = await jsm.streams.getMessage(Streams.WS_DOCS, {
      last_by_subj: docSubjects(wsid, theDoc.result.doc).names,
    });
    expect(m!.json()).toMatchObject({
      type: "VersionNamed",
      actor: ids.bob,
      data: { name: "bob's first" },
    });
    tid = newTerminalId();
    const opened = await ask(bob.nc, workspaceSubjects(wsid).command("terminals"), {
      type: "OpenTerminal",
      data: { tid },
    });
    expect(opened.ok).toBe(true);
    bob.nc.publish(terminalSubjects(wsid, tid).input, "echo marker-$((6*7)); whoami\n");
    expect(await terminalOutput(bob, /marker-42\s+user\b/)).toMatch(/marker-42\s+user\b/);
    await bob.nc.close();
  });

  it("hub collaborators - a viewer's own NATS login reads everything and changes nothing", async () => {
    const vic = await connect("vic", wsid);
    const nc = vic.nc;
    expect(vic.login.memberships).toMatchObject([{ wsid, role: "viewer" }]);
    const domain = vic.login.memberships[0]!.jsDomain!;
    const api = `$JS.${domain}.API`;
    const ws = workspaceSubjects(wsid);
    const term = terminalSubjects(wsid, tid);

    // Reads: listings, a file, a document, views, the terminal's output through a reader.
    const listed = await ask(nc, ws.read("fs"), {
      op: "list",
      path: "~",
      offset: 0,
      limit: 100,
      sort: "name",
      desc: false,
      hidden: false,
      filter: "",
    });
    expect((listed.result as { entries: { name: string }[] }).entries.map((e) => e.name)).toEqual(
      expect.arrayContaining(["by-bob.txt", "note.txt"]),
    );
    const read = await ask(nc, ws.read("fs"), { op: "read", path: `${HOME}/note.txt` });
    expect(read.result).toMatchObject({ content: "the owner's note\n" });
    const doc = await ask(nc, ws.read("docs"), {
      type: "OpenDocument",
      data: { path: `${HOME}/note.txt` },
    });
    expect(doc).toMatchObject({ ok: true, result: { doc: expect.any(String) } });
    const termView = await nc.request(`${api}.DIRECT.GET.KV_terms.$KV.terms.${wsid}.${tid}`, "", {
      timeout: 10_000,
    });
    expect(termView.string()).toContain(tid);
    expect(await terminalOutput(vic, /marker-42\s+user\b/)).toContain("marker-42");
    // Its presence in a terminal is shown to the others.
    const presence = hub.nc.subscribe(term.viewer, { max: 1 });
    await hub.nc.flush();
    nc.publish(term.viewer, JSON.stringify({ viewer: "vic" }));
    for await (const m of presence) expect(m.string()).toContain("vic");
    const name = readerNames(vic.key.getPublicKey())[1]!;

    // Writes, each refused by nats-server itself.
    const refused = viewerChanges(wsid, tid, { api, reader: name, account: ids.vic! });
    for (const [subject, body] of refused)
      expect([subject, await publishOutcome(nc, subject, JSON.stringify(body))]).toEqual([
        subject,
        "denied",
      ]);
    // On the read subjects only reads are answered.
    const sneaky = await ask(nc, ws.read("fs"), {
      op: "write",
      path: `${HOME}/by-viewer.txt`,
      content: "x",
      encoding: "utf8",
      exclusive: false,
    });
    expect(sneaky).toMatchObject({ ok: false, error: { code: "ERR_FS_REQUEST" } });
    const patched = await ask(nc, ws.read("docs"), {
      type: "PatchDocument",
      data: {
        path: `${HOME}/note.txt`,
        base: 0,
        patch: "@@ -0,0 +1,3 @@\n+vic\n",
        client: "c".repeat(16),
        pid: "p".repeat(16),
      },
    });
    expect(patched).toMatchObject({ ok: false });
    // Naming a version changes the document's history: not for a viewer either.
    const named = await ask(nc, ws.read("docs"), {
      type: "NameVersion",
      data: { path: `${HOME}/note.txt`, seq: 1, name: "by the viewer" },
    });
    expect(named).toMatchObject({ ok: false, error: { code: "ERR_COMMAND_REJECTED" } });
    expect(await readAsOwner(`${HOME}/by-viewer.txt`)).toMatchObject({
      ok: false,
      error: { code: "ERR_FS_NOT_FOUND" },
    });
    // And over HTTP: neither commands nor uploads.
    expect(
      await json(await people.vic!.api("POST", `${HUB_WORKSPACES_PATH}/${wsid}/stop`, {})),
    ).toMatchObject({ status: 403, code: "ERR_HUB_FORBIDDEN" });
    expect(
      await json(await people.vic!.api("POST", share().invites, { role: "owner" })),
    ).toMatchObject({ status: 403, code: "ERR_HUB_FORBIDDEN" });
    await nc.close();
  });

  it("hub collaborators - a demoted collaborator's connection ends at once; its next login is a viewer's", async () => {
    const bob = await connect("bob", wsid);
    expect(await publishOutcome(bob.nc, workspaceSubjects(wsid).request("fs"), "{}")).toBe(
      "allowed",
    );
    const closed = bob.nc.closed();
    expect(
      (await people.ann!.api("POST", share().member(ids.bob!), { role: "viewer" })).status,
    ).toBe(200);
    await closed;
    expect(bob.nc.isClosed()).toBe(true);
    // The same key again: a JWT with what bob has now.
    const again = await connect("bob", wsid, bob.key);
    expect(again.login.memberships).toMatchObject([{ wsid, role: "viewer" }]);
    expect(await publishOutcome(again.nc, workspaceSubjects(wsid).request("fs"), "{}")).toBe(
      "denied",
    );
    await again.nc.close();
  });

  it("hub collaborators - a removed member's connection ends at once; no new login reaches the workspace", async () => {
    const key = createUser();
    const bob = await connect("bob", wsid);
    const dashboard = await people.bob!.connect(undefined, key);
    open.push(dashboard.nc);
    expect(dashboard.login.memberships.map((x) => x.wsid)).toContain(wsid);
    const closed = [bob.nc.closed(), dashboard.nc.closed()];
    expect((await people.ann!.api("DELETE", share().member(ids.bob!))).status).toBe(200);
    await Promise.all(closed);
    expect(await json(await people.bob!.mint(bob.key, wsid))).toMatchObject({
      status: 404,
      code: "ERR_WORKSPACE_NOT_FOUND",
    });
    const now = await json(await people.bob!.mint(key));
    expect(now.status).toBe(200);
    expect(now.memberships.map((x: { wsid: string }) => x.wsid)).not.toContain(wsid);
    expect(await view(HubWorkspaceBuckets.memberships, `${ids.bob}.${wsid}`)).toBeUndefined();
    // Nor do the hub's other doors open for it.
    expect(
      await json(await people.bob!.api("POST", `${HUB_WORKSPACES_PATH}/${wsid}/start`, {})),
    ).toMatchObject({ status: 404, code: "ERR_WORKSPACE_NOT_FOUND" });
  });

  it("hub collaborators - an invite link adds its role once, expires, and bad tokens are refused", async () => {
    const made = await json(
      await people.ann!.api("POST", share().invites, { role: "collaborator", ttlSeconds: 3600 }),
    );
    expect(made.status).toBe(200);
    const { inviteId, token, expires } = made.invite as {
      inviteId: string;
      token: string;
      expires: string;
    };
    expect(Date.parse(expires) - Date.now()).toBeGreaterThan(3500_000);
    // The view follows the event (its projection may not have run yet).
    const shown = await until(
      "the invite in the view",
      async () =>
        (await view<HubWorkspaceView>(HubWorkspaceBuckets.workspaces, wsid))?.invites?.[inviteId],
    );
    expect(shown).toMatchObject({ role: "collaborator", expires });
    // The secret and its hash are in the private store, never in an event.
    const secret = token.split(".")[1]!;
    const jsm = await jetstreamManager(hub.nc);
    const store = await PrivateStore.open(new Kvm(hub.nc), jsm);
    expect((await store.workspaceInvite(inviteId))?.hash).toBe(secretHash(secret));
    const { state } = await jsm.streams.info(Streams.HUB);
    let history = "";
    for (let seq = state.first_seq; seq <= state.last_seq; seq++)
      history += (await jsm.streams.getMessage(Streams.HUB, { seq }).catch(() => null))?.string();
    expect(history).toContain(inviteId);
    expect(history).not.toContain(secret);
    expect(history).not.toContain(secretHash(secret));

    const bad = async (who: string, t: string) =>
      json(await people[who]!.api("POST", HUB_JOIN_PATH, { token: t }));
    for (const t of ["x", inviteId, `${inviteId}.wrong`, `${inviteId}.${secret}.x`, `.${secret}`])
      expect(await bad("cat", t)).toMatchObject({ status: 403, code: "ERR_HUB_INVITE" });
    // A hub sign-up invite is not a workspace's.
    const signUp = await json(
      await people.ann!.api("POST", "/api/hub/invites", { uses: 1, ttlSeconds: 3600 }),
    );
    expect(await bad("cat", signUp.invite.token)).toMatchObject({ code: "ERR_HUB_INVITE" });
    // A member keeps it unspent; the first other account that accepts gets its role.
    expect(await bad("vic", token)).toMatchObject({ status: 409, code: "ERR_HUB_MEMBER_EXISTS" });
    expect(await bad("cat", token)).toMatchObject({
      status: 200,
      joined: { wsid, role: "collaborator" },
    });
    const used = await bad("dan", token);
    expect(used).toMatchObject({ status: 403, code: "ERR_HUB_INVITE" });
    expect(await store.workspaceInvite(inviteId)).toBeUndefined();
    await until("cat's list", async () =>
      (await view<MembershipView>(HubWorkspaceBuckets.memberships, `${ids.cat}.${wsid}`))?.role ===
      "collaborator"
        ? true
        : undefined,
    );
    // A revoked link adds no one.
    const second = await json(await people.ann!.api("POST", share().invites, { role: "viewer" }));
    expect((await people.ann!.api("DELETE", share().invite(second.invite.inviteId))).status).toBe(
      200,
    );
    expect(await bad("dan", second.invite.token)).toMatchObject({ code: "ERR_HUB_INVITE" });
    // Too short a life is bad input, and changes nothing.
    expect(
      await json(await people.ann!.api("POST", share().invites, { role: "viewer", ttlSeconds: 5 })),
    ).toMatchObject({ status: 400 });
  });
});
