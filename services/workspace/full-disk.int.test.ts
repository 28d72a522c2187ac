/**
 * The workspace service with a full disk under the store, for real: nats-server's directory on a small tmpfs (root only:
 * mounting needs it), filled by a file until the file system has no room, then freed.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, open, rm, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope } from "../../shared/envelope.js";
import { type StoreState, storeStateFor } from "../../shared/health.js";
import { AllWorkspaces, Buckets, Keys, workspaceSubjects } from "../../shared/subjects.js";
import type { SettingsView } from "../../shared/workspace.js";
import { Counted } from "../../test/helpers/counter-worker.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { publishEvent } from "../runtime/publish.js";
import { StoreWatch } from "../runtime/store-watch.js";
import { Supervisor } from "../runtime/supervisor.js";
import { workspaceService } from "./index.js";

function mountTmpfs(dir: string): string | undefined {
  if (process.getuid?.() !== 0) return "not root: mounting a tmpfs needs root";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", dir]);
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs: ${(err as Error).message}`;
  }
}

const base = await mkdtemp(join(tmpdir(), "cocalc-test-full-"));
const why = mountTmpfs(base);
if (why) console.warn(`full-disk tests skipped: ${why}`);

/** Writes zeros into `file` until the file system says ENOSPC. */
async function fill(file: string): Promise<void> {
  const fh = await open(file, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) await fh.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    await fh.close();
  }
}

describe.skipIf(why !== undefined)("store - a full disk", () => {
  let t: TestNats;
  let watch: StoreWatch;
  let supervisor: Supervisor;
  beforeAll(async () => {
    t = await setup({ dir: join(base, "nats"), streams: true, durables: ["workspace"] });
    await t.jsm.streams.add({ name: "TESTEV", subjects: ["testev.>"] });
  });
  afterAll(async () => {
    await supervisor?.stop();
    await watch?.stop();
    await t?.cleanup();
    execFileSync("umount", [base]);
    await rmdir(base);
  });

  it("is noticed, refuses commands at once with ERR_DISK_FULL, and recovers with every acked event", async () => {
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([workspaceService({ defaultTitle: "full box" })]);
    const settings = await new Kvm(t.nc).open(Buckets.settings);
    await until("workspace created", async () => settings.get(Keys.settings(TEST_WSID)));

    const at = new Date().toISOString();
    const acked: number[] = [];
    for (let i = 1; i <= 100; i++)
      acked.push(
        (
          await publishEvent(
            t.js,
            `testev.${i % 3}`,
            envelope(Counted, { n: i }, { actor: "t", at }),
          )
        ).seq,
      );

    const feed = workspaceSubjects(TEST_WSID).feed("store");
    const seen: StoreState[] = [];
    // A host's workspace's page: the feeds of the workspaces running now, in its own words.
    const hostedFeed = workspaceSubjects("whosted").feed("store");
    const hostedSeen: StoreState[] = [];
    const listener = await t.connect("store listener");
    listener.subscribe(feed, { callback: (_e, m) => void seen.push(m.json<StoreState>()) });
    listener.subscribe(hostedFeed, {
      callback: (_e, m) => void hostedSeen.push(m.json<StoreState>()),
    });
    await listener.flush();
    const sender = await t.connect("a page");
    watch = new StoreWatch({
      nc: await t.connect("store watch"),
      dir: t.dir,
      server: t.server,
      connections: [t.nc],
      log: testLog,
      intervalMs: 200,
      minFreeBytes: 256 * 1024,
      publishTo: [feed],
    });
    watch.start();
    const hostWatch = new StoreWatch({
      nc: await t.connect("host store watch"),
      dir: t.dir,
      server: t.server,
      connections: [],
      log: testLog,
      intervalMs: 200,
      minFreeBytes: 256 * 1024,
      publishTo: () => [hostedFeed],
      answerOn: AllWorkspaces.storeRead,
      shown: (s) => storeStateFor(s, "the disk of host h1"),
    });
    hostWatch.start();
    const pidBefore = t.server.pid;

    const filler = join(base, "filler");
    await fill(filler);
    // JetStream meets the full disk on a write, as it would with a terminal printing; what
    // it still acks (into a block's last page) must be there after recovery too.
    let refused: unknown;
    for (let i = 101; i < 400 && !refused; i++)
      await publishEvent(t.js, `testev.${i % 3}`, envelope(Counted, { n: i }, { actor: "t", at }), {
        timeoutMs: 1000,
      }).then(
        (ack) => acked.push(ack.seq),
        (err) => (refused = err),
      );
    expect(refused).toBeDefined();
    await until("the watch says full", async () => watch.state.status === "full");
    const full = await until("the page's feed says full", async () =>
      seen.find((s) => s.status === "full"),
    );
    expect(full).toMatchObject({ status: "full", path: t.dir });
    const hostedFull = await until("the hosted page's feed says full", async () =>
      hostedSeen.find((s) => s.status === "full"),
    );
    expect(hostedFull).toMatchObject({ status: "full", path: "the disk of host h1" });
    expect(JSON.stringify(hostedFull)).not.toContain(t.dir);
    const asked = (
      await sender.request(workspaceSubjects("whosted").storeRead, "", { timeout: 5000 })
    ).json<StoreState>();
    expect(asked).toMatchObject({ status: "full", path: "the disk of host h1" });
    await hostWatch.stop();

    const subject = workspaceSubjects(TEST_WSID).command("workspace");
    const reply = (
      await sender.request(
        subject,
        JSON.stringify({ type: "ChangeSettings", data: { color: "#445566" } }),
        {
          timeout: 5000,
        },
      )
    ).json<{ ok: boolean; error?: { code: string; message: string } }>();
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe("ERR_DISK_FULL");
    expect(reply.error?.message).toMatch(/^disk full: [\d.]+ MB free on /);

    await rm(filler);
    await until("the watch says ok again", async () => watch.state.status === "ok", 60_000);
    await until("the page's feed says ok again", async () => seen.at(-1)?.status === "ok");
    // 2.9.10 stays stuck after space is freed: the watch restarted it.
    expect(t.server.pid).not.toBe(pidBefore);

    const info = await until("the stream answers", async () =>
      t.jsm.streams.info("TESTEV").catch(() => undefined),
    );
    expect(info.state.last_seq).toBeGreaterThanOrEqual(acked.at(-1)!);
    for (const seq of acked) {
      const m = await t.jsm.streams.getMessage("TESTEV", { seq });
      expect(m?.json<{ data: { n: number } }>().data.n).toBe(acked.indexOf(seq) + 1);
    }

    // Commands apply again.
    const ok = await until("a command applies", async () => {
      const r = await sender
        .request(subject, JSON.stringify({ type: "ChangeSettings", data: { color: "#445566" } }), {
          timeout: 5000,
        })
        .then((m) => m.json<{ ok: boolean }>())
        .catch(() => undefined);
      return r?.ok ? r : undefined;
    });
    expect(ok.ok).toBe(true);
    await until("colour projected", async () => {
      const v = (
        await settings.get(Keys.settings(TEST_WSID)).catch(() => null)
      )?.json<SettingsView>();
      return v?.settings.color === "#445566";
    });
    await listener.close();
  }, 120_000);
});
