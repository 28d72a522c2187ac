/**
 * Agents' API keys in a hosted workspace, with a real hub and the host it runs joined to
 * itself (real btrfs, podman) and the scripted ACP agent inside the container: each account
 * sets its keys at the hub (an owner also the workspace's); a turn's agent gets the keys of
 * the account that submitted it — the owner's workspace keys over the account's, a
 * collaborator only its own, also when its browser forges the header that names the sender —
 * in its environment inside the container. The hub gives keys
 * only to the host the workspace is on and only for owners and collaborators; keys are
 * sealed at rest (no value in the hub's files), never in events, and go with the account.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import {
  agentCommand,
  agentRequest,
  followLog,
  messagesOf,
  threadView,
  turnView,
} from "../../services/agents/test-kit.js";
import { HUB_AGENT_KEYS_PATH } from "../../services/gateway/hub-agent-keys.js";
import { askHub } from "../../services/gateway/hub-auth.js";
import { agentKeysKey, PrivateStore } from "../../services/hub/private-store.js";
import { REQUEST_INFO_HEADER } from "../../services/runtime/caller.js";
import {
  defaultThreadSettings,
  newThreadId,
  newTurnId,
  roomIdForPath,
  turnEnded,
} from "../../shared/agents.js";
import { browserUserName, CONSOLE_ACTOR, HubSubjects } from "../../shared/hub.js";
import type { HostKeysReply } from "../../shared/hub-agent-keys.js";
import { hostDomain, hostSubjects } from "../../shared/subjects.js";
import { type HubBrowser, hubBrowser } from "../helpers/hub-browser.js";
import {
  addScriptedAgent,
  createHubAccount,
  type HostMachine,
  hubHostUnsupported,
  runningHubWorkspace,
  setupHostMachine,
  startTestHub,
} from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";

const HOST = "hubkeys1";
const unsupported = await hubHostUnsupported();
if (unsupported) console.warn(`hub agent keys skipped: ${unsupported}`);

const SECRETS = {
  aliceAccount: "sk-alice-account-0f3a9c",
  aliceWorkspace: "sk-alice-workspace-77e1d2",
  aliceAnthropic: "sk-ant-alice-5b6c7d",
  bob: "sk-bob-own-a1b2c3",
};

describe.skipIf(unsupported !== undefined)("hub agent keys - through the hub to a host", () => {
  let m: HostMachine;
  let hub: RunningHub;
  let base: string;
  let wsid: string;
  let agentLine = "";
  const ids: Record<string, string> = {};
  const browsers: Record<string, HubBrowser> = {};
  const conns: NatsConnection[] = [];

  const keysApi = (who: string, method: "GET" | "PUT", body?: object) =>
    browsers[who]!.api(
      method,
      `${HUB_AGENT_KEYS_PATH}${method === "GET" ? `?wsid=${wsid}` : ""}`,
      body,
    );
  const setKey = async (who: string, scope: string, name: string, value: string) => {
    const res = await keysApi(who, "PUT", { scope, wsid, name, value });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** Who = a member's browser: a thread of the scripted agent, one turn, its log's text. */
  const turnOf = async (nc: NatsConnection, prompt: string, thread?: string) => {
    const room = roomIdForPath("/home/user/keys.chat");
    const t = thread ?? newThreadId();
    if (!thread) {
      const created = await agentCommand(nc, wsid, "CreateThread", {
        room,
        thread: t,
        title: "keys",
        settings: {
          ...defaultThreadSettings("/home/user"),
          agent: "custom",
          command: agentLine,
          mode: "workspace-write",
        },
      });
      expect(created).toMatchObject({ ok: true });
    }
    const turn = newTurnId();
    expect(
      await agentCommand(nc, wsid, "SubmitTurn", { room, thread: t, turn, prompt }),
    ).toMatchObject({
      ok: true,
    });
    const domain = hostDomain(HOST);
    const view = await until(
      "the turn ended",
      async () => {
        const v = await turnView(hub.nc, wsid, t, turn, domain);
        return v && turnEnded(v.status) ? v : undefined;
      },
      90_000,
    );
    const text = messagesOf(await followLog(hub.nc, wsid, t, turn, undefined, 60_000, domain));
    return { thread: t, view, text };
  };
  /** Asks the hub for keys as host `hostId` would, answered on that host's inbox. */
  const asHost = async (hostId: string, body: object): Promise<HostKeysReply> => {
    const inbox = `${hostSubjects(hostId).inbox}.test${Math.random().toString(36).slice(2)}`;
    const sub = hub.nc.subscribe(inbox, { max: 1 });
    hub.nc.publish(hostSubjects(hostId).agentKeys, JSON.stringify(body), { reply: inbox });
    for await (const msg of sub) return msg.json<HostKeysReply>();
    throw new Error("no answer");
  };

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    hub = await startTestHub(join(m.dir, "hub"), {
      localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST },
    });
    base = new URL(hub.url).origin;
    ids.alice = await createHubAccount(hub.nc, "alice@example.com", "admin");
    ids.bob = await createHubAccount(hub.nc, "bob@example.com");
    ids.carol = await createHubAccount(hub.nc, "carol@example.com");
    const rootfs = await m.rootfs("k");
    agentLine = await addScriptedAgent(rootfs);
    // Bob collaborates and Carol views.
    wsid = await runningHubWorkspace(hub.nc, {
      hostId: HOST,
      owner: ids.alice!,
      rootfs,
      image: "bb",
      title: "Keys",
      quota: { diskMb: 400, memoryMb: 256 },
      members: [
        ["bob@example.com", "collaborator"],
        ["carol@example.com", "viewer"],
      ],
    });
    for (const who of ["alice", "bob", "carol"])
      browsers[who] = await hubBrowser(base, `${who}@example.com`);
  }, 400_000);

  afterAll(async () => {
    for (const c of conns) await c.close().catch(() => undefined);
    await hub?.stop();
    await m?.cleanup();
  });

  it("hub agent keys - each account sets its own; only names come back; bad input changes nothing", async () => {
    expect(await setKey("alice", "account", "OPENAI_API_KEY", SECRETS.aliceAccount)).toMatchObject({
      status: 200,
      body: { names: { account: ["OPENAI_API_KEY"], workspace: [] } },
    });
    await setKey("alice", "account", "ANTHROPIC_API_KEY", SECRETS.aliceAnthropic);
    const ownerWs = await setKey("alice", "workspace", "OPENAI_API_KEY", SECRETS.aliceWorkspace);
    expect(ownerWs.body).toEqual({
      names: { account: ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"], workspace: ["OPENAI_API_KEY"] },
    });
    expect(await setKey("bob", "account", "OPENAI_API_KEY", SECRETS.bob)).toMatchObject({
      status: 200,
      body: { names: { account: ["OPENAI_API_KEY"] } },
    });
    // A collaborator keeps no keys for the workspace; bad names and values are refused.
    const notOwner = await setKey("bob", "workspace", "OPENAI_API_KEY", "x");
    expect(notOwner).toMatchObject({ status: 403, body: { code: "ERR_HUB_FORBIDDEN" } });
    expect((await setKey("bob", "account", "BAD NAME", "x")).status).toBe(400);
    expect((await setKey("bob", "account", "A", "x".repeat(10_001))).status).toBe(400);
    expect((await keysApi("bob", "PUT", { scope: "everyone", name: "A", value: "x" })).status).toBe(
      400,
    );
    const listed = await keysApi("bob", "GET");
    expect(await listed.json()).toEqual({ names: { account: ["OPENAI_API_KEY"] } });
    const carol = await keysApi("carol", "GET");
    expect(await carol.json()).toEqual({ names: { account: [] } });
    // No value in what the hub answers, ever.
    expect(JSON.stringify(await (await keysApi("alice", "GET")).json())).not.toContain("sk-");
  });

  it("hub agent keys - a turn's agent gets the keys of who submitted it, inside the container", async () => {
    const alice = (await browsers.alice!.connect(wsid)).nc;
    const bob = (await browsers.bob!.connect(wsid)).nc;
    conns.push(alice, bob);
    const prompt = "env OPENAI_API_KEY\nenv ANTHROPIC_API_KEY\nrun id -u";
    const a = await turnOf(alice, prompt);
    expect(a.view.status, `${JSON.stringify(a.view.failure)} ${a.text}`).toBe("finished");
    // The owner: the workspace's key over the account's of the same name, and the account's.
    expect(a.text).toContain(`env OPENAI_API_KEY=${SECRETS.aliceWorkspace}`);
    expect(a.text).toContain(`env ANTHROPIC_API_KEY=${SECRETS.aliceAnthropic}`);
    expect(a.text).toContain('exit 0 output "1000\\n"');
    expect(a.view.by).toBe(ids.alice);
    // Bob's turn in Alice's thread: his own key only, none of Alice's.
    const b = await turnOf(bob, prompt, a.thread);
    expect(b.view.status, `${JSON.stringify(b.view.failure)} ${b.text}`).toBe("finished");
    expect(b.text).toContain(`env OPENAI_API_KEY=${SECRETS.bob}`);
    expect(b.text).toMatch(/env ANTHROPIC_API_KEY=exit 0/);
    expect(b.text).not.toContain(SECRETS.aliceAccount);
    expect(b.text).not.toContain(SECRETS.aliceWorkspace);
    expect(b.text).not.toContain(SECRETS.aliceAnthropic);
    expect(b.view.by).toBe(ids.bob);
    // Bob's browser puts a Nats-Request-Info naming Alice on its command: nats-server writes
    // its own over it, so the turn is still Bob's and gets Bob's keys.
    const forged = headers();
    forged.set(
      REQUEST_INFO_HEADER,
      JSON.stringify({ acc: "forged", user: "forged", name_tag: browserUserName(ids.alice!) }),
    );
    const forging = Object.assign(Object.create(bob) as NatsConnection, {
      request: (subject: string, payload: string, o: { timeout: number }) =>
        bob.request(subject, payload, { ...o, headers: forged }),
    });
    const f = await turnOf(forging, "env OPENAI_API_KEY", a.thread);
    expect(f.view.by).toBe(ids.bob);
    expect(f.text).toContain(`env OPENAI_API_KEY=${SECRETS.bob}`);
  });

  it("hub agent keys - a file a command of a turn creates inside the container is recorded (seen through its fs service) and the turn's revert removes it", async () => {
    const bob = (await browsers.bob!.connect(wsid)).nc;
    conns.push(bob);
    const r = await turnOf(bob, "run echo made > /home/user/by-command.txt");
    expect(r.view.status, `${JSON.stringify(r.view.failure)} ${r.text}`).toBe("finished");
    const domain = hostDomain(HOST);
    const log = await followLog(hub.nc, wsid, r.thread, r.view.turn, undefined, 60_000, domain);
    const writes = log.flatMap(({ event: e }) => (e.type === "FileWritten" ? [e.data] : []));
    expect(writes).toEqual([
      {
        path: "/home/user/by-command.txt",
        before: null,
        after: "made\n",
        truncated: false,
        byCommand: true,
      },
    ]);
    const reverted = await agentRequest<{ reverted: string[] }>(bob, wsid, {
      op: "revertTurn",
      thread: r.thread,
      turn: r.view.turn,
    });
    expect(reverted).toMatchObject({
      ok: true,
      result: { reverted: ["/home/user/by-command.txt"] },
    });
  });

  it("hub agent keys - a collaborator's scheduled prompt runs on the host as the collaborator's turn, with the collaborator's keys", async () => {
    const bob = (await browsers.bob!.connect(wsid)).nc;
    conns.push(bob);
    const room = roomIdForPath("/home/user/keys.chat");
    const { thread } = await turnOf(bob, "say first");
    const schedule = {
      prompt: "env OPENAI_API_KEY",
      when: { kind: "cron", expression: "* * * * *" },
      timeZone: "UTC",
      missed: "skip",
      paused: false,
    };
    expect(await agentCommand(bob, wsid, "SetSchedule", { room, thread, schedule })).toMatchObject({
      ok: true,
    });
    const domain = hostDomain(HOST);
    // The next whole minute of the host's clock.
    const turn = await until(
      "the scheduled run",
      async () => {
        const v = await threadView(hub.nc, wsid, room, thread, domain);
        return v?.schedule?.last?.turn;
      },
      90_000,
    );
    const view = await until("the scheduled turn ended", async () => {
      const v = await turnView(hub.nc, wsid, thread, turn, domain);
      return v && turnEnded(v.status) ? v : undefined;
    });
    const text = messagesOf(await followLog(hub.nc, wsid, thread, turn, undefined, 60_000, domain));
    expect(view.status, `${JSON.stringify(view.failure)} ${text}`).toBe("finished");
    expect(view.by).toBe(ids.bob);
    expect(view.scheduled?.count).toBe(1);
    expect(text).toContain(`env OPENAI_API_KEY=${SECRETS.bob}`);
    expect(text).not.toContain(SECRETS.aliceWorkspace);
    await agentCommand(bob, wsid, "RemoveSchedule", { room, thread });
  });

  it("hub agent keys - the hub answers only the workspace's host, for its owners and collaborators", async () => {
    expect(await asHost(HOST, { wsid, account: ids.bob! })).toEqual({
      ok: true,
      env: { OPENAI_API_KEY: SECRETS.bob },
    });
    for (const [hostId, body] of [
      [HOST, { wsid, account: ids.carol! }], // a viewer
      ["otherhost", { wsid, account: ids.alice! }], // not where the workspace is
      [HOST, { wsid: "nosuchworkspace", account: ids.alice! }],
      [HOST, { wsid, account: "nosuchaccount" }],
    ] as const) {
      expect(await asHost(hostId, body)).toMatchObject({
        ok: false,
        error: { code: "ERR_HUB_FORBIDDEN" },
      });
    }
    expect(await asHost(HOST, { wsid })).toMatchObject({
      ok: false,
      error: { code: "ERR_HUB_AGENT_KEYS" },
    });
  });

  it("hub agent keys - no value in events or the hub's files; an account's keys go with it", async () => {
    const values = Object.values(SECRETS);
    const files: string[] = [];
    const walk = async (dir: string) => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        // The turns' logs (and their snapshots, folded from them) hold what the agent said:
        // the scripted agent says the values.
        else if (p.includes("/streams/WS_AGENT_LOG/") || p.includes("/streams/KV_turn-logs/"))
          continue;
        else if (e.isFile() && (await stat(p)).size < 64 * 1024 * 1024) files.push(p);
      }
    };
    // The hub's JetStream (events, views, the private store) and everything else it keeps,
    // and the host's data (its JetStream with the turns' events and logs).
    await walk(join(m.dir, "hub"));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const text = (await readFile(f)).toString("latin1");
      for (const v of values) expect(text.includes(v), `${v} in ${f}`).toBe(false);
    }
    const store = await PrivateStore.open(new Kvm(hub.nc), await jetstreamManager(hub.nc));
    expect(await store.sealed(agentKeysKey({ account: ids.bob! }))).toBeDefined();
    await askHub(
      hub.nc,
      HubSubjects.command,
      "DeleteAccount",
      { by: CONSOLE_ACTOR, account: ids.bob! },
      "accounts service",
    );
    expect(await store.sealed(agentKeysKey({ account: ids.bob! }))).toBeUndefined();
  });
});
