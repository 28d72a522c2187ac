/**
 * SSH into a hosted workspace with the system's OpenSSH client, through a real hub and the
 * host it runs joined to itself (real btrfs, podman): keys added at the console (the CLI) and
 * through the hub's key service; the hub's host key pinned in known_hosts; an exec with its
 * exit code and stderr, a shell under a pty, rsync of a tree both ways, sftp, a `-L` forward
 * to a server inside the container; agent forwarding off; a wrong key, a non-member, a viewer
 * and a disabled account refused; a stopped workspace says so.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { freePort } from "../../services/runtime/ports.js";
import { CONSOLE_ACTOR, HubSubjects } from "../../shared/hub.js";
import { HubSshKeySubjects, type HubSshKeysReply } from "../../shared/hub-ssh.js";
import type { WorkspaceView } from "../../shared/launchpad.js";
import { Buckets } from "../../shared/subjects.js";
import { LAUNCHPAD_BUNDLE } from "../helpers/hub-process.js";
import {
  askWorkspaces,
  copyProgram,
  createHubAccount,
  type HostMachine,
  hubHostUnsupported,
  runningHubWorkspace,
  setupHostMachine,
  startTestHub,
  viewEntry,
} from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";

const HOST = "hubssh1";
const TOOLS = ["/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/rsync", "/usr/bin/sftp"];
const SFTP_SERVER = "/usr/lib/openssh/sftp-server";
const unsupported =
  (await hubHostUnsupported()) ??
  [...TOOLS, SFTP_SERVER]
    .map((t) => (spawnSync("test", ["-x", t]).status === 0 ? undefined : t))
    .filter(Boolean)
    .map((t) => `${t} is missing (apt-get install openssh-client openssh-sftp-server rsync)`)[0];
if (unsupported) console.warn(`hub ssh skipped: ${unsupported}`);

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to its end (never spawnSync: the hub that answers it runs in this process).
 */
function run(file: string, args: string[], input?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
    child.once("close", (status) => resolve({ status, stdout, stderr }));
  });
}

async function launchpad(args: string[]): Promise<string> {
  const r = await run(process.execPath, [LAUNCHPAD_BUNDLE, ...args]);
  if (r.status !== 0) throw new Error(`cocalc-launchpad ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

describe.skipIf(unsupported !== undefined)("hub ssh - into a workspace through the hub", () => {
  let m: HostMachine;
  let hub: RunningHub;
  let wsid: string;
  let dir: string;
  const ids: Record<string, string> = {};
  const keyOf = (who: string) => join(dir, `${who}_key`);

  const ws = (type: string, data: object) => askWorkspaces(hub.nc, type, data);
  const keys = async (type: string, data: object) =>
    (
      await hub.nc.request(
        HubSshKeySubjects.command,
        JSON.stringify({ type, data: { by: CONSOLE_ACTOR, ...data } }),
        { timeout: 20_000 },
      )
    ).json<HubSshKeysReply>();
  const sshArgs = (who: string, extra: string[] = [], portFlag = "-p") => [
    "-F",
    "/dev/null",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${join(dir, "known_hosts")}`,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
    "-i",
    keyOf(who),
    portFlag,
    String(hub.sshPort),
    ...extra,
  ];
  const ssh = (who: string, command: string[], o: { input?: string; extra?: string[] } = {}) =>
    run("ssh", [...sshArgs(who, o.extra), `${wsid}@127.0.0.1`, ...command], o.input);

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    dir = join(m.dir, "client");
    await mkdir(dir, { recursive: true });
    hub = await startTestHub(join(m.dir, "hub"), {
      localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST },
    });
    for (const [who, role] of [
      ["alice", "admin"],
      ["bob", "user"],
      ["carol", "user"],
      ["dave", "user"],
      ["eve", "user"],
    ] as const)
      ids[who] = await createHubAccount(hub.nc, `${who}@example.com`, role);
    for (const who of ["alice", "bob", "carol", "dave", "eve", "mallory"])
      spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyOf(who)]);
    // The hub's host key, pinned: a client that checks it strictly gets in.
    const hostKey = await readFile(join(m.dir, "hub", "keys", "ssh-host-ed25519.pub"), "utf8");
    await writeFile(join(dir, "known_hosts"), `[127.0.0.1]:${hub.sshPort} ${hostKey}`);

    // An image with rsync and OpenSSH's sftp-server (busybox has neither).
    const rootfs = await m.rootfs("s");
    await copyProgram(rootfs, "/usr/bin/rsync");
    await copyProgram(rootfs, SFTP_SERVER);
    wsid = await runningHubWorkspace(hub.nc, {
      hostId: HOST,
      owner: ids.alice!,
      rootfs,
      image: "sshimg",
      title: "SSH",
      quota: { diskMb: 600, memoryMb: 256 },
      members: [
        ["bob@example.com", "collaborator"],
        ["carol@example.com", "viewer"],
        ["eve@example.com", "collaborator"],
      ],
    });
    for (const who of ["bob", "carol", "dave", "eve"]) {
      const r = await keys("AddSshKey", {
        account: ids[who],
        name: "main",
        key: await readFile(`${keyOf(who)}.pub`, "utf8"),
      });
      expect(r.ok).toBe(true);
    }
    // Alice's key through the console's CLI; the others' through the key service.
    const out = await launchpad([
      "hub",
      "account",
      "ssh-key",
      "add",
      "alice@example.com",
      "laptop",
      "--file",
      `${keyOf("alice")}.pub`,
      "--data-dir",
      join(m.dir, "hub"),
    ]);
    expect(out).toMatch(/ssh key laptop added to alice@example.com: ssh-ed25519 SHA256:/);
  }, 400_000);

  afterAll(async () => {
    await hub?.stop();
    await m?.cleanup();
  });

  it("hub ssh - keys are listed with their fingerprints; bad keys change nothing", async () => {
    const listed = await launchpad([
      "hub",
      "account",
      "ssh-key",
      "list",
      "alice@example.com",
      "--data-dir",
      join(m.dir, "hub"),
    ]);
    const fp = spawnSync("ssh-keygen", ["-l", "-f", `${keyOf("alice")}.pub`], {
      encoding: "utf8",
    }).stdout.split(" ")[1]!;
    expect(listed).toContain("laptop");
    expect(listed).toContain(fp);
    for (const key of [
      "not a key",
      "ssh-ed25519 AAAAnotbase64",
      await readFile(keyOf("bob"), "utf8"),
    ]) {
      const r = await keys("AddSshKey", { account: ids.bob, name: "bad", key });
      expect(r).toMatchObject({ ok: false, error: { code: "ERR_HUB_SSH_KEY" } });
    }
    const again = await keys("AddSshKey", {
      account: ids.bob,
      name: "twice",
      key: await readFile(`${keyOf("bob")}.pub`, "utf8"),
    });
    expect(again).toMatchObject({ ok: false, error: { code: "ERR_HUB_SSH_KEY" } });
    const bobs = await keys("ListSshKeys", { account: ids.bob });
    expect(bobs.ok && bobs.keys.map((k) => k.name)).toEqual(["main"]);
    // An account manages only its own keys.
    const r = await hub.nc.request(
      HubSshKeySubjects.command,
      JSON.stringify({ type: "ListSshKeys", data: { by: ids.bob, account: ids.alice } }),
    );
    expect(r.json()).toMatchObject({ ok: false, error: { code: "ERR_HUB_FORBIDDEN" } });
  });

  it("hub ssh - an exec runs in the workspace and brings back its output, stderr and exit code", async () => {
    const t = await ssh("alice", ["true"]);
    expect(t.stderr).toBe("");
    expect(t.status).toBe(0);
    const r = await ssh("alice", ["pwd; echo to-err >&2; exit 7"]);
    expect(r.stdout.trim()).toBe("/home/user");
    expect(r.stderr).toContain("to-err");
    expect(r.status).toBe(7);
    // stdin reaches the command; a collaborator gets in too.
    const cat = await ssh("bob", ["cat"], { input: "through the pipe\n" });
    expect(cat.stdout).toBe("through the pipe\n");
    expect(cat.status).toBe(0);
    // The user form NAME+WSID works as well.
    const named = await run("ssh", [...sshArgs("alice"), `alice+${wsid}@127.0.0.1`, "echo named"]);
    expect(named.stdout.trim()).toBe("named");
  });

  it("hub ssh - a shell under a pty", async () => {
    const r = await ssh("alice", [], { input: "tty; echo $((6 * 7))\nexit 3\n", extra: ["-tt"] });
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.stdout).toContain("42");
    expect(r.status).toBe(3);
  });

  it("hub ssh - rsync of a tree, there and back", async () => {
    const tree = join(dir, "tree");
    for (let i = 0; i < 20; i++) {
      await mkdir(join(tree, `d${i % 4}`), { recursive: true });
      await writeFile(join(tree, `d${i % 4}`, `f${i}.txt`), `file ${i}\n`.repeat(i * 500 + 1));
    }
    await writeFile(join(tree, "big.bin"), Buffer.alloc(3 * 1024 * 1024, 7));
    const e = ["ssh", ...sshArgs("alice")].map((a) => `'${a}'`).join(" ");
    const up = await run("rsync", ["-a", "-e", e, `${tree}/`, `${wsid}@127.0.0.1:tree/`]);
    expect(up.stderr).toBe("");
    expect(up.status).toBe(0);
    const back = join(dir, "back");
    const down = await run("rsync", ["-a", "-e", e, `${wsid}@127.0.0.1:tree/`, `${back}/`]);
    expect(down.status).toBe(0);
    expect(spawnSync("diff", ["-r", tree, back]).status).toBe(0);
    expect((await ssh("alice", ["ls tree | sort"])).stdout.split("\n").filter(Boolean)).toEqual([
      "big.bin",
      "d0",
      "d1",
      "d2",
      "d3",
    ]);
  });

  it("hub ssh - sftp puts and gets a file", async () => {
    await writeFile(join(dir, "up.txt"), "sent by sftp\n");
    await writeFile(
      join(dir, "batch"),
      `put ${join(dir, "up.txt")} up.txt\nget up.txt ${join(dir, "down.txt")}\nls -1\n`,
    );
    const r = await run("sftp", [
      ...sshArgs("alice", [], "-P"),
      "-b",
      join(dir, "batch"),
      `${wsid}@127.0.0.1`,
    ]);
    expect(r.stderr).not.toMatch(/error|denied/i);
    expect(r.status).toBe(0);
    expect(await readFile(join(dir, "down.txt"), "utf8")).toBe("sent by sftp\n");
    expect((await ssh("alice", ["cat up.txt"])).stdout).toBe("sent by sftp\n");
  });

  it("hub ssh - -L reaches a server inside the container", async () => {
    const local = await freePort();
    await mkdir(join(dir, "www"), { recursive: true });
    expect(
      (await ssh("alice", ["mkdir -p www && echo served-inside > www/index.html"])).status,
    ).toBe(0);
    // The session's own command is the server; the forward goes to it.
    const child = spawn(
      "ssh",
      [
        ...sshArgs("alice", ["-L", `127.0.0.1:${local}:127.0.0.1:18080`]),
        `${wsid}@127.0.0.1`,
        "httpd -f -p 127.0.0.1:18080 -h www",
      ],
      { stdio: "ignore" },
    );
    try {
      const text = await until(
        "the page through the forward",
        async () => {
          try {
            const res = await fetch(`http://127.0.0.1:${local}/index.html`);
            return res.ok ? await res.text() : undefined;
          } catch {
            return undefined;
          }
        },
        60_000,
      );
      expect(text).toBe("served-inside\n");
    } finally {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill();
      await gone;
    }
  });

  it("hub ssh - agent forwarding is off", async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's variable, not ours
    const r = await ssh("alice", ['echo "agent=${SSH_AUTH_SOCK:-none}"'], { extra: ["-A"] });
    expect(r.stdout.trim()).toBe("agent=none");
  });

  it("hub ssh - a wrong key, a non-member, a viewer and a disabled account are refused", async () => {
    for (const who of ["mallory", "dave", "carol"]) {
      const r = await ssh(who, ["true"]);
      expect(r.status).toBe(255);
      expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
    }
    expect((await ssh("eve", ["true"])).status).toBe(0);
    const off = await hub.nc.request(
      HubSubjects.command,
      JSON.stringify({
        type: "SetAccountDisabled",
        data: { by: CONSOLE_ACTOR, account: ids.eve, disabled: true },
      }),
      { timeout: 20_000 },
    );
    expect(off.json<{ ok: boolean }>().ok).toBe(true);
    await until("eve refused", async () => (await ssh("eve", ["true"])).status === 255);
    expect((await ssh("eve", ["true"])).stderr).toMatch(/Permission denied/);
    // Another workspace's id with a member's key: not a way in either.
    const other = await run("ssh", [...sshArgs("alice"), "wnosuchws@127.0.0.1", "true"]);
    expect(other.status).toBe(255);
  });

  it("hub ssh - a member removed while signed in is cut off at once", async () => {
    const child = spawn("ssh", [...sshArgs("bob"), `${wsid}@127.0.0.1`, "echo ready; cat"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((r) => child.once("close", r));
    try {
      await until("bob's session runs", async () => out.includes("ready"));
      expect((await ws("RemoveHubMember", { by: ids.alice!, wsid, account: ids.bob! })).ok).toBe(
        true,
      );
      expect(await exited).toBe(255);
      expect((await ssh("bob", ["true"])).status).toBe(255);
    } finally {
      child.kill();
    }
  });

  it("hub ssh - a stopped workspace says so", async () => {
    expect((await ws("StopHubWorkspace", { by: ids.alice!, wsid })).ok).toBe(true);
    await until("stopped", async () =>
      (await viewEntry<WorkspaceView>(hub.nc, Buckets.workspaces, wsid))?.status === "stopped"
        ? true
        : undefined,
    );
    const r = await ssh("alice", ["true"]);
    expect(r.status).toBe(255);
    expect(r.stderr).toMatch(/the workspace is stopped; start it first/);
  });
});
