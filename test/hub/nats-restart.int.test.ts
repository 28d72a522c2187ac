/**
 * The hub's own nats-server dies (kill -9): the hub starts it again by itself, its services
 * reconnect and answer, nothing stored is lost (an account made before signs in after), a
 * browser signed in before mints a NATS login and connects again, and health says ok. A real
 * hub in this process (no host of its own) and its real operator-mode nats-server.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { hubBrowser } from "../helpers/hub-browser.js";
import { createHubAccount, startTestHub } from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";
import { alive, proc } from "../helpers/procs.js";

describe("hub - its nats-server dies", () => {
  let dir: string;
  let hub: RunningHub;
  let base: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cocalc-hub-nats-restart-"));
    hub = await startTestHub(dir);
    base = hub.url.replace(/\/$/, "");
  });
  afterAll(async () => {
    await hub?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const natsPid = async () =>
    Number((await readFile(join(dir, "nats", "nats-server.pid"), "utf8")).trim());
  const health = async () => {
    const res = await fetch(`${base}/healthz`).catch(() => undefined);
    return res ? ((await res.json()) as { status: string }).status : "unreachable";
  };

  it("is started again; accounts, sign-in, NATS logins and health come back", async () => {
    await createHubAccount(hub.nc, "before@example.com");
    const browser = await hubBrowser(base, "before@example.com");
    const first = await browser.connect();
    await first.nc.close();
    await until("health ok", async () => (await health()) === "ok");

    const pid = await natsPid();
    const old = proc(pid)!;
    process.kill(pid, "SIGKILL");
    await until("the old nats-server gone", async () => !alive(old));
    const next = await until(
      "a new nats-server",
      async () => {
        const p = await natsPid().catch(() => 0);
        const running = p !== pid && p > 0 ? proc(p) : undefined;
        return running && alive(running) ? p : undefined;
      },
      60_000,
    );
    expect(next).not.toBe(pid);

    // The services' connection is back: the account made before the crash signs in.
    const again = await until(
      "a sign-in after the restart",
      async () => hubBrowser(base, "before@example.com").catch(() => undefined),
      60_000,
    );
    // A browser of before mints a login and connects (the account JWTs were kept).
    const later = await browser.connect();
    expect(later.login.jwt).toBeTruthy();
    await later.nc.close();
    const other = await again.connect();
    await other.nc.close();
    await until("health ok again", async () => (await health()) === "ok", 60_000);
    // A new account works too: the accounts service writes again.
    await createHubAccount(hub.nc, "after@example.com");
    await hubBrowser(base, "after@example.com");
  });
});
