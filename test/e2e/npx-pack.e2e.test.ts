/**
 * Both products from the package `npm pack` makes, run the way the README says: `npx -p
 * ./cocalc-ai-<version>.tgz cocalc-launchpad` starts a hub that serves its pages and prints
 * its setup link; `… cocalc-plus` starts plus. npx installs the dependencies (from npm's
 * cache, else the registry), so nothing of this checkout's node_modules is used.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePortRange } from "../../services/runtime/ports.js";

const execFileP = promisify(execFile);
const ROOT = new URL("../..", import.meta.url).pathname;
const built =
  existsSync(join(ROOT, "dist/bundle/launchpad.js")) && existsSync(join(ROOT, "dist/web"));
if (!built) console.warn("npx of the packed tarball skipped: dist is not built (npm run build)");

describe.skipIf(!built)("npx of the package npm pack makes", () => {
  let dir: string;
  let tgz: string;
  const running = new Set<ChildProcess>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cocalc-npx-"));
    // dist is built already: the prepack script (a build) is not run again.
    await execFileP("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], {
      cwd: ROOT,
      timeout: 120_000,
    });
    const name = (await readdir(dir)).find((f) => f.endsWith(".tgz"));
    if (!name) throw new Error("npm pack made no tarball");
    tgz = join(dir, name);
  }, 180_000);

  afterAll(async () => {
    // Each ran in its own process group (npx, its shell, the product and its nats-server).
    await Promise.all(
      [...running].map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once("exit", () => resolve());
            process.kill(-p.pid!, "SIGTERM");
          }),
      ),
    );
    // The leader goes first; its nats-server may still be writing its store in the temp dir.
    const groupAlive = (pgid: number) => {
      try {
        process.kill(-pgid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (const p of running)
      for (let i = 0; i < 200 && groupAlive(p.pid!); i++)
        await new Promise((r) => setTimeout(r, 100));
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  /** Runs `bin args…` from the tarball until its output matches `ready`; the match. */
  async function npx(bin: string, args: string[], ready: RegExp): Promise<RegExpMatchArray> {
    const p = spawn("npx", ["--yes", "--prefer-offline", "-p", tgz, bin, ...args], {
      cwd: dir,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false" },
    });
    running.add(p);
    let out = "";
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${bin} from the tarball did not start:\n${out}`)),
        300_000,
      );
      const look = (d: Buffer) => {
        out += d;
        const m = ready.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
      };
      p.stdout!.on("data", look);
      p.stderr!.on("data", look);
      p.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${bin} from the tarball exited with ${code}:\n${out}`));
      });
    });
  }

  it("npx - cocalc-launchpad starts a hub: its pages, its state, a setup link", async () => {
    const port = await freePortRange([1, 2, 3]);
    const m = await npx(
      "cocalc-launchpad",
      ["--no-local-host", "--port", String(port), "--data-dir", join(dir, "hub")],
      /hub ready: (\S+)[\s\S]*setup\?token=/,
    );
    const base = m[1]!.replace(/\/$/, "");
    expect(base).toBe(`http://127.0.0.1:${port}`);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok" });
    expect(await (await fetch(`${base}/api/hub/state`)).json()).toEqual({
      setUp: false,
      signUpMode: "invite",
    });
    const page = await (await fetch(`${base}/`)).text();
    expect(page).toMatch(/cocalc-product" content="hub"/);
  }, 360_000);

  it("npx - cocalc-plus starts and answers", async () => {
    const m = await npx(
      "cocalc-plus",
      ["--no-open", "--data-dir", join(dir, "plus")],
      /cocalc-plus ready: (http:\/\/\S+)/,
    );
    const url = new URL(m[1]!);
    expect(await (await fetch(`${url.origin}/healthz`)).json()).toEqual({ status: "ok" });
  }, 360_000);
});
