import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createUser } from "@nats-io/nkeys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectServices } from "../../services/runtime/connect.js";
import { freePortRange } from "../../services/runtime/ports.js";
import { domainManager, viewValue } from "../../services/runtime/remote-views.js";
import type { ExecResult, HostTokenFile, WorkspaceView } from "../../shared/launchpad.js";
import {
  accountSubjects,
  Buckets,
  hostDomain,
  hostSubjects,
  RegistrySubjects,
  workspaceSubjects,
} from "../../shared/subjects.js";
import {
  type HostMachine,
  hostUnsupported,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { testLog, until } from "../../test/helpers/nats.js";
import { runClient } from "./client.js";
import { connectHub } from "./hub-connect.js";

const BIN = new URL("../../dist/bundle/launchpad.js", import.meta.url).pathname;
const HOST = "hostjoin1";
const unsupported =
  (await hostUnsupported()) ??
  (existsSync(BIN) ? undefined : `${BIN} is missing: run npm run build first`);
if (unsupported) console.warn(`hub join tests skipped: ${unsupported}`);

type Reply = { ok: boolean; error?: { code: string; message: string }; result?: ExecResult };

/** Starts a cocalc-launchpad daemon; resolves with its output so far once it says "ready". */
function daemon(args: string[]): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("ready")) resolve({ child, out: () => out });
    });
    child.stderr!.on("data", (b: Buffer) => {
      out += b.toString();
      if (process.env.DEBUG_JOIN) process.stderr.write(b);
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code}: ${out}`)));
  });
}

async function stopDaemon(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

describe.skipIf(unsupported !== undefined)("a host joins the hub as a leaf node", () => {
  let m: HostMachine;
  let cp: ChildProcess | undefined;
  let host: ChildProcess | undefined;
  let cpDir: string;
  let hub: NatsConnection;

  const token = (hostId: string, out: string, ttl = "1h") =>
    spawnSync(
      process.execPath,
      [BIN, "hub", "token", hostId, "--out", out, "--ttl", ttl, "--data-dir", cpDir],
      { encoding: "utf8" },
    );
  /** `cocalc-launchpad hub ARGS --data-dir HUB_DIR`. */
  const cpCli = (args: string[]) =>
    spawnSync(process.execPath, [BIN, "hub", ...args, "--data-dir", cpDir], {
      encoding: "utf8",
    });
  /** A host that only tries to join (it fails before it touches the btrfs). */
  const joinOnly = (tokenFile: string, dataDir: string) =>
    spawnSync(
      process.execPath,
      [BIN, "host", "--join", tokenFile, "--btrfs", m.root, "--data-dir", dataDir],
      { encoding: "utf8", timeout: 60_000 },
    );

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 1024);
    cpDir = join(m.dir, "hub");
    const port = String(await freePortRange([1, 2, 3]));
    cp = (
      await daemon([
        "hub",
        "--port",
        port,
        "--no-local-host",
        "--data-dir",
        cpDir,
        "--log-level",
        "warn",
      ])
    ).child;
    hub = await connectHub(cpDir, testLog);
  });

  afterAll(async () => {
    await hub?.close();
    await stopDaemon(host);
    await stopDaemon(cp);
    await m?.cleanup();
  });

  it("a token goes to a 0600 file, never to the output; wrong and expired ones are refused", async () => {
    const file = join(m.dir, "wrong.token");
    const r = token(HOST, file);
    expect(r.status, r.stderr).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const t = JSON.parse(await readFile(file, "utf8")) as HostTokenFile;
    expect(t.hostId).toBe(HOST);
    expect(r.stdout + r.stderr).not.toContain(t.secret);
    // The same token with another secret: a damaged one, and another key's.
    await writeFile(file, JSON.stringify({ ...t, secret: `${t.secret.slice(0, -4)}AAAA` }), {
      mode: 0o600,
    });
    const damaged = joinOnly(file, join(m.dir, "d-wrong"));
    expect(damaged.status).toBe(1);
    expect(damaged.stderr).toMatch(/its secret is damaged/);
    const otherKey = new TextDecoder().decode(createUser().getSeed());
    await writeFile(file, JSON.stringify({ ...t, secret: otherKey }), { mode: 0o600 });
    const wrong = joinOnly(file, join(m.dir, "d-wrong"));
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/refused the registration token/);
    expect(wrong.stderr).not.toContain(t.secret);
    expect(wrong.stderr).not.toContain(otherKey);

    const shortFile = join(m.dir, "short.token");
    expect(token(HOST, shortFile, "1s").status).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    const expired = joinOnly(shortFile, join(m.dir, "d-expired"));
    expect(expired.status).toBe(1);
    expect(expired.stderr).toMatch(/registration token expired at/);

    const notAToken = join(m.dir, "garbage.token");
    await writeFile(notAToken, "hello", { mode: 0o600 });
    expect(joinOnly(notAToken, join(m.dir, "d-garbage")).stderr).toMatch(
      /is not a registration token file/,
    );

    // A token file others can read is refused before anything is sent.
    const open = join(m.dir, "open.token");
    expect(token(HOST, open).status).toBe(0);
    await chmod(open, 0o644);
    const refused = joinOnly(open, join(m.dir, "d-open"));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/open\.token can be read by others \(mode 0644\)/);

    // A newer token for the host revokes its unused one.
    const older = join(m.dir, "older.token");
    const newer = join(m.dir, "newer.token");
    expect(token(HOST, older).status).toBe(0);
    expect(token(HOST, newer).status).toBe(0);
    const replaced = joinOnly(older, join(m.dir, "d-older"));
    expect(replaced.status).toBe(1);
    expect(replaced.stderr).toMatch(/revoked at .* \(a newer token was issued for the host\)/);
    // An operator revokes the newer one: it cannot join either.
    const newerId = (JSON.parse(await readFile(newer, "utf8")) as HostTokenFile).tokenId;
    const revoked = cpCli(["token", "revoke", newerId]);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(joinOnly(newer, join(m.dir, "d-newer")).stderr).toMatch(/revoked by an operator/);
    const listed = cpCli(["token", "list"]);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${newerId}\\s+${HOST}\\s+revoked\\s`, "m"));
    expect(listed.stdout).not.toContain(t.secret);
  });

  it("a host's cores quotas survive the join: refused until the control plane has each, whose number applies", async () => {
    // The host runs on its own first, with quotas in its own ledger.
    const dataDir = join(m.dir, "host-data");
    const own = await daemon([
      "host",
      "--host-id",
      HOST,
      "--btrfs",
      m.root,
      "--data-dir",
      dataDir,
      "--snapshot-every",
      "0",
      "--log-level",
      "warn",
    ]);
    const quota = (dir: string, account: string, cores: string) =>
      runClient(
        { command: "account", action: "cores", args: [account, cores], flags: {}, dataDir: dir },
        { write: () => undefined },
      );
    try {
      expect(await quota(dataDir, "acme", "2")).toBe(0);
      expect(await quota(dataDir, "beta", "1")).toBe(0);
      expect(await quota(dataDir, "gamma", "none")).toBe(0);
    } finally {
      await stopDaemon(own.child);
    }
    const file = join(m.dir, "host.token");
    expect(token(HOST, file).status).toBe(0);
    const refused = joinOnly(file, dataDir);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("ERR_HOST_JOIN_QUOTA");
    expect(refused.stderr).toContain("acme (2 cores), beta (1 cores)");
    expect(refused.stderr).toContain(`cocalc-launchpad account cores acme 2 --data-dir ${cpDir}`);
    expect(refused.stderr).not.toContain("gamma");
    expect(existsSync(join(dataDir, "leaf.json"))).toBe(false);
    // One set on the control plane (another number): the other is still missing.
    expect(await quota(cpDir, "acme", "3")).toBe(0);
    const still = joinOnly(file, dataDir);
    expect(still.stderr).toContain("ERR_HOST_JOIN_QUOTA");
    expect(still.stderr).toContain("quotas the control plane does not: beta (1 cores);");
    expect(await quota(cpDir, "beta", "1")).toBe(0);
    // The refusals did not use the token: the next test joins with it.
    expect(cpCli(["token", "list"]).stdout).toMatch(/\s+hostjoin1\s+issued\s/);
  });

  it("the host joins: commands reach it and its events reach the control plane; a used token is refused", async () => {
    const file = join(m.dir, "host.token");
    const dataDir = join(m.dir, "host-data");
    const started = await daemon([
      "host",
      "--join",
      file,
      "--btrfs",
      m.root,
      "--data-dir",
      dataDir,
      "--snapshot-every",
      "0",
      "--log-level",
      "warn",
    ]);
    host = started.child;
    expect(started.out()).toMatch(/a leaf node of the hub/);
    expect(started.out()).toContain(
      "account acme: the control plane's cores quota 3 applies (this host had 2)",
    );
    expect(started.out()).not.toMatch(/account beta:/);
    expect((await stat(join(dataDir, "leaf.json"))).mode & 0o777).toBe(0o600);

    // Commands from the control plane's side reach the host.
    const imported = await hub.request(
      hostSubjects(HOST).command,
      JSON.stringify({ type: "ImportImage", data: { name: "bb", source: await m.rootfs("j") } }),
      { timeout: 120_000 },
    );
    expect(imported.json<Reply>().ok).toBe(true);
    const ws = "wsjoined";
    const send = async (type: string, data: unknown = {}) =>
      (
        await hub.request(workspaceSubjects(ws).command("host"), JSON.stringify({ type, data }), {
          timeout: 60_000,
        })
      ).json<Reply>();
    expect(
      (await send("CreateWorkspaceOnHost", { image: "bb", quota: { diskMb: 200, memoryMb: 256 } }))
        .ok,
    ).toBe(true);
    expect((await send("StartWorkspace")).ok).toBe(true);
    const id = await send("ExecInWorkspace", { argv: ["/bin/sh", "-c", "id -u; hostname"] });
    expect(id.result?.stdout).toBe(`1000\nws-${ws}\n`);
    expect((await send("StopWorkspace")).ok).toBe(true);

    // The control plane reads the host's views through the host's JetStream domain, and
    // keeps no copy of its events.
    const onHost = await domainManager(hub, hostDomain(HOST));
    await until(
      "the host's view of the workspace, read from the control plane",
      async () =>
        (await viewValue<WorkspaceView>(onHost, Buckets.workspaces, ws))?.status === "stopped",
    );
    const names: string[] = [];
    for await (const n of (await jetstreamManager(hub)).streams.names()) names.push(n);
    expect(names.filter((n) => n.startsWith("HOST_EVENTS_"))).toEqual([]);

    // The token was for one join.
    const again = joinOnly(file, join(m.dir, "d-again"));
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already used \(by host hostjoin1\)/);
  });

  it("a joined host cannot listen to the registry or issue tokens", async () => {
    const run = JSON.parse(await readFile(join(m.dir, "host-data", "run.json"), "utf8")) as {
      natsUrl: string;
      seedFile: string;
    };
    // Full rights on the host's own nats-server: what a compromised host could do.
    const onHost = await connectServices(
      { url: run.natsUrl, seed: (await readFile(run.seedFile, "utf8")).trim() },
      "test sniffer",
    );
    try {
      const heard: string[] = [];
      for (const s of ["_INBOX.>", "_CP_INBOX.>", "_JOIN.>", "registry.>", "hostjoin.>"])
        onHost.subscribe(s, {
          callback: (_e, msg) => {
            heard.push(msg.subject);
          },
        });
      // What the control plane does send this host (an answer in its inbox) is the sign
      // that the host's interest reached the control plane, before and after the token.
      const sentinel = async (n: number) => {
        const subject = `${hostSubjects(HOST).inbox}.sentinel${n}`;
        let got = false;
        onHost.subscribe(subject, {
          max: 1,
          callback: () => {
            got = true;
          },
        });
        await onHost.flush();
        await until(`sentinel ${n} heard on the host`, async () => {
          hub.publish(subject, "");
          await hub.flush();
          return got;
        });
      };
      await onHost.flush();
      await sentinel(1);
      // Issuing a token pushes the hub's account JWT again (with the leaf accounts).
      const r = token("hostjoin2", join(m.dir, "other.token"));
      expect(r.status).toBe(0);
      await sentinel(2);
      expect(heard).toEqual([]);
      const issued = await onHost
        .request(
          RegistrySubjects.command,
          JSON.stringify({ type: "IssueHostToken", data: { hostId: "evil", ttlSeconds: 60 } }),
          { timeout: 2000 },
        )
        .then(
          () => "answered",
          () => "refused",
        );
      expect(issued).toBe("refused");
    } finally {
      await onHost.close();
    }
  });

  it("restarted without --join, the host comes back joined", async () => {
    await stopDaemon(host);
    const dataDir = join(m.dir, "host-data");
    const restarted = await daemon([
      "host",
      "--btrfs",
      m.root,
      "--data-dir",
      dataDir,
      "--snapshot-every",
      "0",
      "--log-level",
      "warn",
    ]);
    host = restarted.child;
    expect(restarted.out()).toMatch(/joined the hub before: joining it again/);
    expect(restarted.out()).toMatch(/a leaf node of the hub/);
    // Its commands reach it (a malformed one is answered, so the host heard it).
    await until("the host's commands reachable from the control plane again", async () =>
      hub
        .request(hostSubjects(HOST).command, JSON.stringify({ type: "ImportImage", data: {} }), {
          timeout: 2000,
        })
        .then((m) => m.json<Reply>().error?.code === "ERR_COMMAND_INVALID")
        .catch(() => false),
    );
    // A start asks the control plane's ledger: its answers reach the host too.
    const send = async (type: string) =>
      (
        await hub.request(
          hostSubjects(HOST).workspaceCommand("wsjoined"),
          JSON.stringify({ type, data: {} }),
          { timeout: 60_000 },
        )
      ).json<Reply>();
    const started = await send("StartWorkspace");
    expect(started.ok, JSON.stringify(started)).toBe(true);
    expect((await send("StopWorkspace")).ok).toBe(true);
  });

  it("account commands on a joined host are refused with a coded error that says where to run them", async () => {
    const dataDir = join(m.dir, "host-data");
    for (const action of ["cores", "list"])
      await expect(
        runClient({ command: "account", action, args: ["acme", "2"], flags: {}, dataDir }),
      ).rejects.toMatchObject({
        code: "ERR_ACCOUNT_ON_CONTROL_PLANE",
        message: expect.stringMatching(
          /joined to a control plane.*--data-dir of the control plane/,
        ),
      });
    // Any other client of the host's nats-server gets the same answer, not "no responders".
    const run = JSON.parse(await readFile(join(dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      seedFile: string;
    };
    const onHost = await connectServices(
      { url: run.natsUrl, seed: (await readFile(run.seedFile, "utf8")).trim() },
      "test account client",
    );
    try {
      const r = (
        await onHost.request(
          accountSubjects("acme").command,
          JSON.stringify({ type: "SetAccountCoresQuota", data: { cores: 2 } }),
          { timeout: 10_000 },
        )
      ).json<Reply>();
      expect(r.error?.code).toBe("ERR_ACCOUNT_ON_CONTROL_PLANE");
    } finally {
      await onHost.close();
    }
  });

  it("revoking the token a host joined with cuts the host off", async () => {
    const used = (JSON.parse(await readFile(join(m.dir, "host.token"), "utf8")) as HostTokenFile)
      .tokenId;
    const r = cpCli(["token", "revoke", used]);
    expect(r.status, r.stderr).toBe(0);
    const answer = await hub
      .request(hostSubjects(HOST).command, JSON.stringify({ type: "ImportImage", data: {} }), {
        timeout: 10_000,
      })
      .then(
        () => "answered",
        (err: Error) => err.message,
      );
    expect(answer).toMatch(/no responders/);
    expect(cpCli(["token", "list"]).stdout).toMatch(
      new RegExp(`^${used}\\s+${HOST}\\s+revoked\\s`, "m"),
    );
  });
});
