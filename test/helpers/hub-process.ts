/**
 * The launchpad hub as its own process (the bundle, as an operator runs it) with a host on a
 * loop btrfs: by default the host the hub runs joined to itself; with `joined`, a second host
 * process with its own nats-server that joined the hub's leaf listener by a registration
 * token (the hub runs no host of its own). Then an image on that host, and the hub's first
 * admin signed in over HTTP with a running workspace of that image: what e2e tests and
 * benchmarks that go through the hub's gateway start from. `stop()` ends the hub and the
 * joined host (the machine's cleanup is the caller's).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { hubFilesPaths } from "../../services/gateway/hub-files.js";
import { HUB_WORKSPACES_PATH } from "../../services/gateway/hub-workspaces.js";
import { freePortRange } from "../../services/runtime/ports.js";
import { addScriptedAgent, type HostMachine, TEST_PASSWORD } from "./launchpad.js";
import { alive, proc } from "./procs.js";

/** The bundle, from the sources (vitest) or from dist/test (benchmarks). */
export const LAUNCHPAD_BUNDLE =
  [
    new URL("../../dist/bundle/launchpad.js", import.meta.url),
    new URL("../../bundle/launchpad.js", import.meta.url),
  ]
    .map((u) => fileURLToPath(u))
    .find((p) => existsSync(p)) ?? "dist/bundle/launchpad.js";

/** Runs `cocalc-launchpad args…` to the end; its output, or a failure with it. */
export function runLaunchpad(args: string[], timeout = 120_000): string {
  const r = spawnSync(process.execPath, [LAUNCHPAD_BUNDLE, ...args], {
    encoding: "utf8",
    timeout,
  });
  if (r.status !== 0) throw new Error(`cocalc-launchpad ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A long-running cocalc-launchpad. */
export interface LaunchpadProcess {
  child: ChildProcess;
  /** What it printed (the tail, for a failure's message). */
  output(): string;
  /** SIGTERM, and its exit. */
  stop(): Promise<void>;
}

/** Starts `cocalc-launchpad args…`; resolves once `ready` matches what it printed. */
export async function startLaunchpad(args: string[], ready: RegExp): Promise<LaunchpadProcess> {
  const child = spawn(process.execPath, [LAUNCHPAD_BUNDLE, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  // Only the tail matters for an error message.
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await gone;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready:\n${out}`)), 120_000);
      const check = () => {
        if (!ready.test(out)) return;
        clearTimeout(timer);
        resolve();
      };
      child.stdout!.on("data", check);
      child.stderr!.on("data", check);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`cocalc-launchpad ${args[0]} exited with ${code}:\n${out}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, output: () => out, stop };
}

/** A host process joined to the hub over its leaf listener. */
export interface JoinedHost extends LaunchpadProcess {
  dataDir: string;
  /** The pid of the host's own nats-server (the leaf node). */
  natsPid(): Promise<number>;
  /** The host dies: SIGKILL to its process and its nats-server, as a power cut leaves them. */
  crash(): Promise<void>;
  /** Started again after `crash()`, as an operator would: the same command. */
  restart(): Promise<void>;
}

/** A second host process on `m`'s btrfs, joined to the hub of `hubDataDir` by a token. */
export async function joinHost(
  m: HostMachine,
  hostId: string,
  hubDataDir: string,
): Promise<JoinedHost> {
  const tokenFile = join(m.dir, `${hostId}.token`);
  runLaunchpad(["hub", "token", hostId, "--out", tokenFile, "--data-dir", hubDataDir]);
  const dataDir = join(m.dir, `host-${hostId}`);
  const args = [
    "host",
    ...["--btrfs", m.root, "--host-id", hostId, "--data-dir", dataDir, "--join", tokenFile],
  ];
  const ready = /host \S+ ready:/;
  let p = await startLaunchpad(args, ready);
  const natsPid = async () =>
    Number((await readFile(join(dataDir, "nats", "nats-server.pid"), "utf8")).trim());
  return {
    get child() {
      return p.child;
    },
    output: () => p.output(),
    stop: () => p.stop(),
    dataDir,
    natsPid,
    async crash() {
      const nats = proc(await natsPid());
      const gone = new Promise((r) => p.child.once("exit", r));
      p.child.kill("SIGKILL");
      if (nats) process.kill(nats.pid, "SIGKILL");
      await gone;
      while (nats && alive(nats)) await new Promise((r) => setTimeout(r, 100));
    },
    async restart() {
      p = await startLaunchpad(args, ready);
    },
  };
}

/** The operator imports image "bb" onto `hostId` through the hub, once it has heard from it. */
export async function importImage(
  m: HostMachine,
  hostId: string,
  hubDataDir: string,
  prepare?: (rootfs: string) => Promise<void>,
) {
  const rootfs = await m.rootfs("bb");
  await prepare?.(rootfs);
  for (let tries = 0; ; tries++) {
    try {
      runLaunchpad(["image", "import", "bb", rootfs, "--host", hostId, "--data-dir", hubDataDir]);
      return;
    } catch (err) {
      if (tries >= 30) throw err;
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}

export interface HubProcess {
  child: ChildProcess;
  /** http://127.0.0.1:PORT (no trailing slash). */
  base: string;
  dataDir: string;
  /** The admin's browser credential (admin@example.com, TEST_PASSWORD). */
  credential: string;
  /** A workspace of the admin's, placed on the host and running. */
  wsid: string;
  /** The second host, with `joined`. */
  host?: JoinedHost;
  /** With `agent`: the scripted agent's command line inside the container. */
  agentCommand?: string;
  /** Headers of the admin's browser for the hub's API. */
  headers(extra?: Record<string, string>): Record<string, string>;
  /** What the hub printed (for a failure's message). */
  output(): string;
  stop(): Promise<void>;
}

export interface HubProcessOptions {
  quota?: { diskMb: number; memoryMb: number };
  /** The host is a second process that joins the hub (which runs none of its own). */
  joined?: boolean;
  /** The hub's --offline-after (a host unheard for so long is offline). */
  offlineAfter?: string;
  /** The image carries the scripted ACP agent (its command: HubProcess.agentCommand). */
  agent?: boolean;
  /** Puts more into the image's rootfs before it is imported (programs a bench needs). */
  prepareImage?: (rootfs: string) => Promise<void>;
}

/** A hub on `m` with host `hostId` (its own, or joined), an image and a running workspace. */
export async function startHubProcess(
  m: HostMachine,
  hostId: string,
  opts: HubProcessOptions = {},
): Promise<HubProcess> {
  const { quota = { diskMb: 300, memoryMb: 256 }, joined = false } = opts;
  const dataDir = join(m.dir, "hub");
  const port = await freePortRange([1, 2, 3]);
  // The test imports its own image: no first image is built.
  const hostArgs = joined
    ? ["--no-local-host"]
    : ["--btrfs", m.root, "--host-id", hostId, "--no-first-image"];
  const hub = await startLaunchpad(
    [
      "--port",
      String(port),
      ...hostArgs,
      ...(opts.offlineAfter ? ["--offline-after", opts.offlineAfter] : []),
      "--data-dir",
      dataDir,
    ],
    /hub ready: \S+[\s\S]*setup\?token=|setup\?token=[\s\S]*hub ready: /,
  );
  let host: JoinedHost | undefined;
  const stop = async () => {
    await host?.stop();
    await hub.stop();
  };
  try {
    if (joined) host = await joinHost(m, hostId, dataDir);
    let agentCommand: string | undefined;
    await importImage(m, hostId, dataDir, async (rootfs) => {
      if (opts.agent) agentCommand = await addScriptedAgent(rootfs);
      await opts.prepareImage?.(rootfs);
    });
    const base = `http://127.0.0.1:${port}`;
    const setupToken = /setup\?token=(\S+)/.exec(hub.output())![1]!;
    const post = async (path: string, body: unknown, credential?: string) => {
      const res = await fetch(`${base}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          origin: base,
          ...(credential && { authorization: `Bearer ${credential}` }),
        },
        body: JSON.stringify(body),
      });
      const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${json.message}`);
      return json;
    };
    const { credential } = (await post(HUB_PATHS.setup, {
      setupToken,
      email: "admin@example.com",
      password: TEST_PASSWORD,
    })) as { credential: string };
    // The image is offered once the host's beat says it has it.
    let wsid: string | undefined;
    for (let i = 0; wsid === undefined; i++) {
      try {
        wsid = (
          (await post(
            HUB_WORKSPACES_PATH,
            { title: "Uploads", image: "bb", quota },
            credential,
          )) as { wsid: string }
        ).wsid;
      } catch (err) {
        if (i > 120) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    // Started once placed.
    for (let i = 0; ; i++) {
      try {
        await post(`${HUB_WORKSPACES_PATH}/${wsid}/start`, {}, credential);
        break;
      } catch (err) {
        if (i > 120) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const headers = (extra: Record<string, string> = {}) => ({
      authorization: `Bearer ${credential}`,
      origin: base,
      ...extra,
    });
    // Placed, and its services answer: a first small upload goes through.
    for (let i = 0; ; i++) {
      const q = new URLSearchParams({ dir: "~", name: ".hub-ready", conflict: "replace" });
      const res = await fetch(`${base}${hubFilesPaths(wsid).upload}?${q}`, {
        method: "PUT",
        headers: headers({ "content-type": "application/octet-stream" }),
        body: "ready",
      });
      if (res.status === 201) break;
      if (i > 120) throw new Error(`the workspace's files never answered: ${await res.text()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    return {
      child: hub.child,
      base,
      dataDir,
      credential,
      wsid,
      ...(host && { host }),
      ...(agentCommand && { agentCommand }),
      headers,
      output: hub.output,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
