/**
 * The launchpad hub as its own process (the bundle, as an operator runs it) with the host it
 * runs joined to itself on a loop btrfs, an image of that host, and its first admin signed in
 * over HTTP with a workspace of that image: what e2e tests and benchmarks that go through the
 * hub's gateway start from. `stop()` ends the hub (the machine's cleanup is the caller's).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { hubFilesPaths } from "../../services/gateway/hub-files.js";
import { HUB_WORKSPACES_PATH } from "../../services/gateway/hub-workspaces.js";
import { freePortRange } from "../../services/runtime/ports.js";
import type { HostMachine } from "./launchpad.js";

/** The bundle, from the sources (vitest) or from dist/test (benchmarks). */
export const LAUNCHPAD_BUNDLE =
  [
    new URL("../../dist/bundle/launchpad.js", import.meta.url),
    new URL("../../bundle/launchpad.js", import.meta.url),
  ]
    .map((u) => fileURLToPath(u))
    .find((p) => existsSync(p)) ?? "dist/bundle/launchpad.js";

export interface HubProcess {
  child: ChildProcess;
  /** http://127.0.0.1:PORT (no trailing slash). */
  base: string;
  /** The admin's browser credential. */
  credential: string;
  /** A workspace of the admin's, placed on the host and running. */
  wsid: string;
  /** Headers of the admin's browser for the hub's API. */
  headers(extra?: Record<string, string>): Record<string, string>;
  /** What the hub printed (for a failure's message). */
  output(): string;
  stop(): Promise<void>;
}

const PASSWORD = "the admin's long password";

export async function startHubProcess(
  m: HostMachine,
  hostId: string,
  quota: { diskMb: number; memoryMb: number } = { diskMb: 300, memoryMb: 256 },
): Promise<HubProcess> {
  const dataDir = join(m.dir, "hub");
  const port = await freePortRange([2, 3]);
  const child = spawn(
    process.execPath,
    [
      LAUNCHPAD_BUNDLE,
      "--port",
      String(port),
      "--btrfs",
      m.root,
      "--host-id",
      hostId,
      "--data-dir",
      dataDir,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
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
      const timer = setTimeout(() => reject(new Error(`the hub did not start:\n${out}`)), 120_000);
      child.stdout!.on("data", () => {
        if (/hub ready: (\S+)/.test(out) && /setup\?token=/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`the hub exited with ${code}:\n${out}`)));
    });
    const imported = spawnSync(
      process.execPath,
      [
        LAUNCHPAD_BUNDLE,
        "image",
        "import",
        "bb",
        await m.rootfs("hub-process"),
        "--host",
        hostId,
        "--data-dir",
        dataDir,
      ],
      { encoding: "utf8", timeout: 120_000 },
    );
    if (imported.status !== 0) throw new Error(`image import failed: ${imported.stderr}`);
    const base = `http://127.0.0.1:${port}`;
    const setupToken = /setup\?token=(\S+)/.exec(out)![1]!;
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
      password: PASSWORD,
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
    return { child, base, credential, wsid, headers, output: () => out, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
