/**
 * The permission matrix of joined hosts, with real nats-servers: the hub in operator mode
 * and hosts A, B (and C, joining later) as leaf nodes, configured by the product's own code
 * (leaf accounts as JWTs pushed to the running hub, never a reload). What host
 * A can do with its credentials — a full-rights client on its own nats-server, and a leaf
 * connection made by hand (nats-server 2.9 does not check a leaf's messages itself) — against
 * B's and the control plane's subjects, JetStream API (every form, legacy ones included),
 * inboxes and commands: nothing arrives. Its own: everything works.
 *
 * "Nothing arrives" is shown by order, not by waiting: each attack ends with a message that
 * does arrive on the same path (a sentinel), and the witnesses hear the sentinel, never the
 * attack before it.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConsumerInfo, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { fmtCreds } from "@nats-io/jwt";
import { Kvm } from "@nats-io/kv";
import {
  jwtAuthenticator,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/nats-core";
import { createUser, fromSeed } from "@nats-io/nkeys";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readerNames, readerSubject } from "../../shared/hub-permissions.js";
import { hostDomain, hostSubjects } from "../../shared/subjects.js";
import { testLog, until } from "../../test/helpers/nats.js";
import { connectServices } from "../runtime/connect.js";
import { locateNatsServer, NatsServer } from "../runtime/nats-server.js";
import { freePort } from "../runtime/ports.js";
import { domainManager, viewValue } from "../runtime/remote-views.js";
import { writeSecretFile } from "../runtime/secret-file.js";
import { HubNatsAuth, type HubNatsServer, startHubNatsServer } from "./index.js";
import type { LeafAccount } from "./leaf-accounts.js";
import { startReaders } from "./readers.js";

const HUB = "hub";
const td = new TextDecoder();

let serverBinary: string | undefined;
try {
  serverBinary = locateNatsServer();
} catch {
  console.warn("leaf isolation matrix skipped: no nats-server on this machine");
}

/** Every JetStream API form on domain `d` (legacy ones included), each as a subject. */
function jsApiForms(d: string): string[] {
  const api = `$JS.${d}.API`;
  return [
    `${api}.INFO`,
    `${api}.STREAM.NAMES`,
    `${api}.STREAM.LIST`,
    `${api}.STREAM.INFO.WS_TERM`,
    `${api}.STREAM.CREATE.EVIL`,
    `${api}.STREAM.UPDATE.WS_TERM`,
    `${api}.STREAM.DELETE.WS_TERM`,
    `${api}.STREAM.PURGE.WS_TERM`,
    `${api}.STREAM.MSG.GET.WS_TERM`,
    `${api}.STREAM.MSG.DELETE.WS_TERM`,
    `${api}.DIRECT.GET.WS_TERM`,
    `${api}.DIRECT.GET.WS_TERM.ws.w1.term.t1.out`,
    `${api}.DIRECT.GET.KV_workspaces.$KV.workspaces.w1`,
    `${api}.CONSUMER.CREATE.WS_TERM`,
    `${api}.CONSUMER.CREATE.WS_TERM.evil.ws.>`,
    `${api}.CONSUMER.DURABLE.CREATE.WS_TERM.evil`,
    `${api}.CONSUMER.NAMES.WS_TERM`,
    `${api}.CONSUMER.LIST.WS_TERM`,
    `${api}.CONSUMER.INFO.WS_TERM.evil`,
    `${api}.CONSUMER.DELETE.WS_TERM.evil`,
    `${api}.CONSUMER.MSG.NEXT.WS_TERM.evil`,
  ];
}

/** What host `h` legitimately receives from the control plane: a witness listens there. */
const receivable = (h: string) => {
  const s = hostSubjects(h);
  return [s.command, `${s.command}.>`, `$JS.${hostDomain(h)}.API.>`, `${s.inbox}.>`];
};

/** Subjects of host `h` and of the control plane that another host must not reach. */
const targetsOf = (h: string) => {
  const s = hostSubjects(h);
  return [
    s.command,
    s.workspaceCommand("w1"),
    `${s.inbox}.evil`,
    s.beat,
    s.ledger,
    ...jsApiForms(hostDomain(h)),
  ];
};
const controlPlaneTargets = [
  ...jsApiForms(HUB),
  "$JS.API.STREAM.NAMES",
  "$JS.API.STREAM.CREATE.EVIL",
  "$JS.API.CONSUMER.CREATE.PLACEMENTS",
  "$JS.API.CONSUMER.DURABLE.CREATE.PLACEMENTS.evil",
  "$JS.API.STREAM.MSG.GET.PLACEMENTS",
  "$JS.API.DIRECT.GET.KV_hosts",
  "$KV.hosts.fleetb",
  "$KV.accounts.acme",
  "placement.w1",
  "ledger.acme.cores",
  "registrycmd",
  "registry.token.t1",
  "registry.host.fleetb",
  "fleetcmd",
  "hostjoin.t1",
  "_JOIN.t1.x",
  "_CP_INBOX.x",
  "_INBOX.x",
  "ws.w1.cmd.host",
  "ws.w1.req.fs",
  "ws.w1.term.t1.input",
  "ws.w1.life.host",
  "accountcmd.acme",
  "$SYS.REQ.SERVER.PING",
];

describe.skipIf(serverBinary === undefined)("joined hosts are isolated on the leaf", () => {
  let dir: string;
  const seedUser = createUser();
  const seed = new TextDecoder().decode(seedUser.getSeed());
  let cpServer: HubNatsServer;
  let auth: HubNatsAuth;
  const hostServers = new Map<string, NatsServer>();
  const conns: NatsConnection[] = [];
  let leafPort: number;
  let cp: NatsConnection;
  /** The leaf accounts the hub reaches, and each host's login (JWT and seed). */
  const logins: LeafAccount[] = [];
  const secrets = new Map<string, { jwt: string; seed: Uint8Array }>();

  const login = async (hostId: string): Promise<LeafAccount> => {
    const l = await auth.newLeafLogin(hostId);
    secrets.set(hostId, { jwt: l.jwt, seed: l.seed });
    return { hostId, account: l.account };
  };
  const services = async (url: string, name: string, inboxPrefix?: string) => {
    const nc = await connectServices({ url, seed }, name, inboxPrefix);
    conns.push(nc);
    return nc;
  };
  const startHost = async (l: LeafAccount) => {
    const creds = join(dir, `${l.hostId}.creds`);
    const { jwt, seed: userSeed } = secrets.get(l.hostId)!;
    await writeSecretFile(creds, td.decode(fmtCreds(jwt, fromSeed(userSeed))));
    const server = new NatsServer(
      {
        binary: serverBinary!,
        dir: join(dir, l.hostId),
        port: await freePort(),
        wsPort: await freePort(),
        servicesNkey: seedUser.getPublicKey(),
        wsOrigin: "http://test.invalid",
        syncAlways: false,
        serverName: `cocalc-host-${l.hostId}`,
        jetstreamDomain: hostDomain(l.hostId),
        leafRemote: { url: `nats-leaf://127.0.0.1:${leafPort}`, credentials: creds },
      },
      testLog,
    );
    await server.start();
    hostServers.set(l.hostId, server);
    // Full rights on the host's own nats-server: what a compromised host can do.
    const nc = await services(server.url, `host ${l.hostId}`, hostSubjects(l.hostId).inbox);
    // Its own commands, answered; its own JetStream with a view and terminal output.
    nc.subscribe(hostSubjects(l.hostId).command, {
      callback: (_e, m) => {
        m.respond(`${l.hostId}`);
      },
    });
    nc.subscribe(`${hostSubjects(l.hostId).command}.>`, {
      callback: (_e, m) => {
        m.respond(`${l.hostId}:${m.subject}`);
      },
    });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "WS_TERM", subjects: ["ws.*.term.*.out"] });
    await (await new Kvm(nc).create("workspaces")).put("w1", JSON.stringify({ on: l.hostId }));
    await nc.flush();
    // Joined: the control plane reaches its commands.
    await until(`host ${l.hostId} reachable from the control plane`, async () =>
      cp
        .request(hostSubjects(l.hostId).command, "", { timeout: 1000 })
        .then((m) => m.string() === l.hostId)
        .catch(() => false),
    );
    return nc;
  };
  const applyLogins = () => auth.setLeafs(logins);

  const witnesses: Subscription[] = [];
  /** Every message `nc` hears on `subjects`, by subject (until the test ends). */
  const witness = async (nc: NatsConnection, subjects: string[]) => {
    const heard: string[] = [];
    for (const s of subjects)
      witnesses.push(
        nc.subscribe(s, {
          callback: (_e, m: Msg) => {
            heard.push(m.subject);
          },
        }),
      );
    await nc.flush();
    return heard;
  };
  afterEach(() => {
    for (const w of witnesses.splice(0)) w.unsubscribe();
  });

  let onA: NatsConnection;
  let onB: NatsConnection;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cocalc-leaf-matrix-"));
    leafPort = await freePort();
    await mkdir(join(dir, "keys"), { mode: 0o700 });
    auth = await HubNatsAuth.open({ dir: join(dir, "keys"), hubDomain: HUB, log: testLog });
    logins.push(await login("fleeta"), await login("fleetb"));
    const operatorJwtFile = join(dir, "operator.jwt");
    await writeSecretFile(operatorJwtFile, await auth.operatorJwt());
    cpServer = await startHubNatsServer(
      serverBinary!,
      {
        dir: join(dir, "cp"),
        serverName: "cocalc_hub",
        host: "127.0.0.1",
        port: await freePort(),
        websocket: {
          host: "127.0.0.1",
          port: await freePort(),
          allowedOrigins: ["http://x.invalid"],
        },
        leaf: { host: "127.0.0.1", port: leafPort },
        jetstreamDomain: HUB,
        operatorJwtFile,
        systemAccount: auth.systemAccountPublicKey,
        preload: await auth.preload(),
      },
      testLog,
    );
    const sys = await auth.systemCredentials();
    const system = await connect({
      servers: cpServer.url,
      authenticator: jwtAuthenticator(sys.jwt, sys.seed),
    });
    conns.push(system);
    auth.attach(system);
    const svc = await auth.servicesCredentials();
    cp = await connect({
      servers: cpServer.url,
      authenticator: jwtAuthenticator(svc.jwt, svc.seed),
    });
    conns.push(cp);
    await auth.setLeafs(logins);

    // Things of the control plane a host must not reach.
    const jsm = await jetstreamManager(cp);
    await jsm.streams.add({ name: "PLACEMENTS", subjects: ["placement.*"] });
    await new Kvm(cp).create("hosts");
    cp.subscribe("coresledger.*", {
      callback: (_e, m) => {
        m.respond(`ledger ${m.subject}`);
      },
    });
    await cp.flush();
    onA = await startHost(logins[0]!);
    onB = await startHost(logins[1]!);
  }, 60_000);

  afterAll(async () => {
    for (const c of conns) await c.close().catch(() => undefined);
    for (const s of hostServers.values()) await s.stop();
    await cpServer?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * Sends each subject from `attacker` (with a reply subject, as a request would), then the
   * sentinel `hostbeat.<from>`; once the control plane heard the sentinel, it probes `victim`
   * on its own command subject. Returns what the control plane's `>` and the victim's
   * witnesses heard, the sentinel and the probe left out.
   */
  const attack = async (
    from: string,
    send: (subject: string, reply: string) => void,
    flush: () => Promise<void>,
    subjects: string[],
    victim: { id: string; nc: NatsConnection },
  ) => {
    const onCp = await witness(cp, [">"]);
    const onVictim = await witness(victim.nc, receivable(victim.id));
    for (const s of subjects) send(s, `${hostSubjects(from).inbox}.attack`);
    // The sentinel is sent after every attack, again until it is heard (a busy machine can
    // take a moment to pass it on): whatever arrives of the attacks arrives before it.
    await until("the sentinel at the control plane", async () => {
      send(hostSubjects(from).beat, `${hostSubjects(from).inbox}.attack`);
      await flush();
      await new Promise((r) => setTimeout(r, 100));
      return onCp.includes(hostSubjects(from).beat);
    });
    const probe = `${hostSubjects(victim.id).command}.probe`;
    await until("the probe at the victim", async () => {
      cp.publish(probe);
      await cp.flush();
      await new Promise((r) => setTimeout(r, 100));
      return onVictim.includes(probe);
    });
    return {
      controlPlane: onCp.filter((s) => s !== hostSubjects(from).beat && s !== probe),
      victim: onVictim.filter((s) => s !== probe),
    };
  };

  it("its own: the control plane reaches a host's commands and JetStream; the host beats and asks the ledger", async () => {
    expect((await cp.request(hostSubjects("fleeta").workspaceCommand("w1"), "")).string()).toBe(
      "fleeta:hostcmd.fleeta.ws.w1",
    );
    const jsmA = await domainManager(cp, hostDomain("fleeta"));
    expect(await viewValue(jsmA, "workspaces", "w1")).toEqual({ on: "fleeta" });
    const names: string[] = [];
    for await (const n of jsmA.streams.names()) names.push(n);
    expect(names.sort()).toEqual(["KV_workspaces", "WS_TERM"]);
    // The control plane's interest reaches host A's nats-server on its own time after the
    // leaf connects: beats repeat, as real ones do, and a ledger request is retried.
    const beats = await witness(cp, [hostSubjects("fleeta").beat]);
    await until("host A's beat at the control plane", async () => {
      onA.publish(hostSubjects("fleeta").beat, "{}");
      await onA.flush();
      return beats.length > 0;
    });
    const ledger = await until("host A's ledger request answered", async () =>
      onA
        .request(hostSubjects("fleeta").ledger, "", { timeout: 1000 })
        .then((m) => m.string())
        .catch(() => undefined),
    );
    expect(ledger).toBe("ledger coresledger.fleeta");
  });

  it("host A's client reaches none of host B's subjects, JetStream forms, inboxes, nor the control plane's", async () => {
    const heard = await attack(
      "fleeta",
      (s, reply) => onA.publish(s, "{}", { reply }),
      () => onA.flush(),
      [...targetsOf("fleetb"), ...controlPlaneTargets],
      { id: "fleetb", nc: onB },
    );
    expect(heard).toEqual({ controlPlane: [], victim: [] });
  });

  it("a leaf connection made by hand with host A's credentials reaches nothing either", async () => {
    const a = secrets.get("fleeta")!;
    const socket = tcpConnect({ host: "127.0.0.1", port: leafPort });
    const lines: string[] = [];
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => lines.push(d));
    await until("the hub's INFO", async () => lines.join("").includes("\r\n"));
    const info = JSON.parse(lines.join("").split("\r\n")[0]!.slice(5)) as { nonce: string };
    const sig = Buffer.from(fromSeed(a.seed).sign(new TextEncoder().encode(info.nonce))).toString(
      "base64url",
    );
    const connectMsg = {
      name: "evil-leaf",
      jwt: a.jwt,
      sig,
      headers: true,
      jetstream: false,
      verbose: false,
      pedantic: false,
    };
    socket.write(`CONNECT ${JSON.stringify(connectMsg)}\r\nPING\r\n`);
    await until("PONG from the control plane", async () => lines.join("").includes("PONG"));
    try {
      const heard = await attack(
        "fleeta",
        (s, reply) => socket.write(`LMSG ${s} + ${reply} 2\r\n{}\r\n`),
        async () => {
          socket.write("PING\r\n");
        },
        [...targetsOf("fleetb"), ...controlPlaneTargets],
        { id: "fleetb", nc: onB },
      );
      expect(heard).toEqual({ controlPlane: [], victim: [] });
    } finally {
      socket.destroy();
    }
  });

  it("host A hears nothing of host B: not its commands and replies, its JetStream, beats, ledger answers, nor any inbox", async () => {
    // Everything host A's nats-server could get from the control plane.
    const onAHeard = await witness(onA, [">"]);
    // Traffic of host B and of the control plane with B.
    expect((await cp.request(hostSubjects("fleetb").workspaceCommand("w1"), "x")).string()).toBe(
      "fleetb:hostcmd.fleetb.ws.w1",
    );
    expect(
      await viewValue(await domainManager(cp, hostDomain("fleetb")), "workspaces", "w1"),
    ).toEqual({ on: "fleetb" });
    const ledger = await until("host B's ledger request answered", async () =>
      onB
        .request(hostSubjects("fleetb").ledger, "", { timeout: 1000 })
        .then((m) => m.string())
        .catch(() => undefined),
    );
    expect(ledger).toBe("ledger coresledger.fleetb");
    onB.publish(hostSubjects("fleetb").beat, "{}");
    await onB.flush();
    for (const s of [
      "_INBOX.x",
      "_CP_INBOX.x",
      `${hostSubjects("fleetb").inbox}.x`,
      "ws.w1.cmd.host",
      "ws.w1.term.t1.out",
      "accountcmd.acme",
      hostSubjects("fleetb").beat,
      `$JS.${hostDomain("fleetb")}.API.STREAM.NAMES`,
    ])
      cp.publish(s, "{}");
    // The sentinel on the same path: the control plane to host A.
    const probe = `${hostSubjects("fleeta").command}.probe`;
    await until("the probe at host A", async () => {
      cp.publish(probe);
      await cp.flush();
      await new Promise((r) => setTimeout(r, 100));
      return onAHeard.includes(probe);
    });
    expect(onAHeard.filter((s) => s !== probe)).toEqual([]);
  });

  it("a host that joins later is out of reach of the others from its first moment (no reconnect)", async () => {
    const c = await login("fleetc");
    logins.push(c);
    await applyLogins();
    const onC = await startHost(c);
    const heard = await attack(
      "fleeta",
      (s, reply) => onA.publish(s, "{}", { reply }),
      () => onA.flush(),
      targetsOf("fleetc"),
      { id: "fleetc", nc: onC },
    );
    expect(heard).toEqual({ controlPlane: [], victim: [] });
  });

  it("a workspace placed on host A: its member's browser reaches its services, terminals, feed and JetStream there through the hub; host B reaches none of it", async () => {
    await auth.setPlacements([
      { wsid: "wa1", hostId: "fleeta" },
      { wsid: "wb1", hostId: "fleetb" },
    ]);
    // The workspace's services on host A, and an impostor of them on host B.
    for (const [nc, on] of [
      [onA, "A"],
      [onB, "B"],
    ] as const) {
      for (const s of ["ws.wa1.req.fs", "ws.wa1.cmd.terminals", "ws.wb1.req.fs"])
        witnesses.push(nc.subscribe(s, { callback: (_e, m) => void m.respond(`${s} on ${on}`) }));
      await nc.flush();
    }
    const input = await witness(onA, ["ws.wa1.term.*.input"]);
    const inputOnB = await witness(onB, ["ws.wa1.term.>", "ws.wa1.cmd.>"]);
    const jsA = jetstream(onA);
    for (const n of [1, 2, 3]) await jsA.publish("ws.wa1.term.t1.out", `chunk ${n}`);

    const key = createUser();
    const minted = await auth.mintUserJwt({
      userNkeyPublic: key.getPublicKey(),
      accountId: "acct1",
      memberships: [
        { wsid: "wa1", role: "collaborator", hostId: "fleeta", jsDomain: hostDomain("fleeta") },
        { wsid: "wb1", role: "collaborator", hostId: "fleetb", jsDomain: hostDomain("fleetb") },
      ],
      connectionTypes: ["STANDARD"],
    });
    const browser = await connect({
      servers: cpServer.url,
      authenticator: jwtAuthenticator(minted.jwt, key.getSeed()),
      inboxPrefix: minted.inboxPrefix,
    });
    conns.push(browser);

    // Requests and commands reach host A's services (the account JWT changed, no reconnect).
    const fs = await until("host A's fs service through the hub", async () =>
      browser
        .request("ws.wa1.req.fs", "{}", { timeout: 1000 })
        .then((m) => m.string())
        .catch(() => undefined),
    );
    expect(fs).toBe("ws.wa1.req.fs on A");
    expect((await browser.request("ws.wa1.cmd.terminals", "{}")).string()).toBe(
      "ws.wa1.cmd.terminals on A",
    );
    expect((await browser.request("ws.wb1.req.fs", "{}")).string()).toBe("ws.wb1.req.fs on B");
    browser.publish("ws.wa1.term.t1.input", "ls\r");
    await browser.flush();
    await until("the keystrokes on host A", async () => input.length > 0);
    expect(input).toEqual(["ws.wa1.term.t1.input"]);

    // A reader on host A's JetStream, made by the hub's reader service for the browser (as the
    // page has them): many answers to one pull request.
    const domain = hostDomain("fleeta");
    const memberships = [
      { wsid: "wa1", role: "collaborator", hostId: "fleeta", jsDomain: domain },
      { wsid: "wb1", role: "collaborator", hostId: "fleetb", jsDomain: hostDomain("fleetb") },
    ] as const;
    const readers = startReaders({
      nc: cp,
      accountOfKey: (k) => auth.accountOfKey(k),
      memberships: async () => [...memberships],
      hubDomain: HUB,
      log: testLog,
    });
    await cp.flush();
    const ask = async (body: object) =>
      (
        await browser.request(readerSubject(key.getPublicKey()), JSON.stringify(body), {
          timeout: 10_000,
        })
      ).json<{ ok: boolean; info?: ConsumerInfo; error?: { code: string } }>();
    const [r0, r1] = readerNames(key.getPublicKey());
    const made = await ask({
      wsid: "wa1",
      stream: "WS_TERM",
      filter: "ws.wa1.term.t1.out",
      name: r0,
      from: { all: true },
    });
    expect(made.ok, JSON.stringify(made.error)).toBe(true);
    const consumer = jetstream(browser, { domain }).consumers.getConsumerFromInfo(made.info!);
    const chunks: string[] = [];
    const messages = await consumer.consume();
    for await (const m of messages) {
      chunks.push(m.string());
      if (chunks.length === 3) break;
    }
    expect(chunks).toEqual(["chunk 1", "chunk 2", "chunk 3"]);
    // What the reader service refuses: another workspace on the host, a durable's name.
    expect(
      (
        await ask({
          wsid: "wa2",
          stream: "WS_TERM",
          filter: "ws.wa2.>",
          name: r1,
          from: { all: true },
        })
      ).error?.code,
    ).toBe("ERR_WORKSPACE_NOT_FOUND");
    expect(
      (
        await ask({
          wsid: "wa1",
          stream: "WS_TERM",
          filter: "ws.wa1.>",
          name: "terminals-wa1",
          from: { all: true },
        })
      ).error?.code,
    ).toBe("ERR_HUB_NATS_INPUT");
    expect(
      (
        await ask({
          wsid: "wa1",
          stream: "WS_TERM",
          filter: "ws.*.>",
          name: r1,
          from: { all: true },
        })
      ).error?.code,
    ).toBe("ERR_HUB_NATS_INPUT");

    // Feeds: host A's of its workspace arrive; host B's forgery of them does not, before B's
    // own workspace's feed on the same path.
    const feeds: string[] = [];
    for (const s of ["ws.wa1.feed.>", "ws.wb1.feed.>"])
      witnesses.push(
        browser.subscribe(s, {
          callback: (_e, m) => void feeds.push(`${m.subject} ${m.string()}`),
        }),
      );
    await browser.flush();
    await until("host A's feed at the browser", async () => {
      onA.publish("ws.wa1.feed.fs", "from A");
      await onA.flush();
      await new Promise((r) => setTimeout(r, 100));
      return feeds.includes("ws.wa1.feed.fs from A");
    });
    onB.publish("ws.wa1.feed.fs", "forged");
    await until("host B's own feed at the browser", async () => {
      onB.publish("ws.wb1.feed.fs", "from B");
      await onB.flush();
      await new Promise((r) => setTimeout(r, 100));
      return feeds.includes("ws.wb1.feed.fs from B");
    });
    expect(feeds.filter((f) => f.endsWith("forged"))).toEqual([]);
    // Host B never heard what the browser sent to workspace wa1.
    expect(inputOnB).toEqual([]);

    // No consumer on the host is the browser's but its own readers: not the durables of its
    // workspace's services or of another workspace's there (pulling from one would take its
    // messages), nor another browser's reader; neither to pull from, delete, look at or make.
    const othersReader = readerNames(createUser().getPublicKey())[0]!;
    for (const subject of [
      `$JS.${domain}.API.CONSUMER.MSG.NEXT.WS_TERM.terminals-wa1`,
      `$JS.${domain}.API.CONSUMER.DELETE.WS_TERM.terminals-wa1`,
      `$JS.${domain}.API.CONSUMER.INFO.WS_TERM.agents-wa1`,
      `$JS.${domain}.API.CONSUMER.CREATE.WS_TERM.docs-wa1.ws.wa1.>`,
      `$JS.${domain}.API.CONSUMER.MSG.NEXT.WS_TERM.workspace-wa1`,
      `$JS.${domain}.API.CONSUMER.MSG.NEXT.WS_TERM.terminals-wa2`,
      `$JS.${domain}.API.CONSUMER.DELETE.WS_DOCS.docs-wa2`,
      `$JS.${domain}.API.CONSUMER.MSG.NEXT.WS_TERM.${othersReader}`,
      `$JS.${domain}.API.CONSUMER.CREATE.WS_TERM.${othersReader}.ws.wa1.>`,
      // nor does it make one itself, even with its own name (the hub's reader service does)
      `$JS.${domain}.API.CONSUMER.CREATE.WS_TERM.${r1}.ws.wa1.>`,
    ]) {
      const answer = await browser.request(subject, "{}", { timeout: 2000 }).then(
        () => "answered",
        (err: Error) => err.message,
      );
      expect(answer, subject).toMatch(/Permissions Violation/);
    }

    // A workspace the browser is not a member of: refused by its permissions.
    const other = await browser.request("ws.wb2.req.fs", "{}", { timeout: 2000 }).then(
      () => "answered",
      (err: Error) => err.message,
    );
    expect(other).toMatch(/permission|timeout|TIMEOUT/i);

    // No longer placed there: nothing routes to host A.
    await auth.setPlacements([{ wsid: "wb1", hostId: "fleetb" }]);
    const gone = await browser.request("ws.wa1.req.fs", "{}", { timeout: 5000 }).then(
      () => "answered",
      (err: Error) => err.message,
    );
    expect(gone).toMatch(/no responders/);
    await auth.setPlacements([]);
    await readers.stop();
  });

  it("revoked credentials: a leaf still connected with them is cut off; the other hosts go on", async () => {
    logins.splice(
      logins.findIndex((l) => l.hostId === "fleetc"),
      1,
    );
    await applyLogins();
    const refused = await cp.request(hostSubjects("fleetc").command, "", { timeout: 5000 }).then(
      () => "answered",
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/no responders/);
    expect((await cp.request(hostSubjects("fleetb").command, "")).string()).toBe("fleetb");
  });
});
