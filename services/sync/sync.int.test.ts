/**
 * The sync service on a real nats-server, with a real sshd on loopback and a second local
 * user as the remote: commands, events, the `sync-pairs` view, pause/resume, check, remove,
 * and bad input refused with nothing stored or started.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliverPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { sessionIdOf } from "../../shared/remote.js";
import { Buckets, Keys, Streams, syncSubjects, workspaceSubjects } from "../../shared/subjects.js";
import {
  type DecidedItem,
  pairIdFor,
  type SyncPairView,
  sessionIdOfPair,
} from "../../shared/sync.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { addSession, remoteServiceForTests } from "../../test/helpers/remote-sessions.js";
import {
  installBundle,
  nodeMissingReason,
  type Sshd,
  SYNC_REMOTE_USER,
  sshdSkipReason,
  startSshd,
} from "../../test/helpers/sshd.js";
import { lastSubjectSeq, readSubject } from "../runtime/stream-read.js";
import { Supervisor } from "../runtime/supervisor.js";
import { SYNC_TEMP_DIR } from "./ignore.js";
import { syncRegistry, syncService } from "./index.js";

const BUNDLE_BUILT = existsSync(new URL("../../dist/bundle/plus.js", import.meta.url));
let why =
  sshdSkipReason() ?? (BUNDLE_BUILT ? undefined : "dist/bundle is not built (npm run build)");
if (why) console.warn(`sync service tests skipped: ${why}`);

describe.skipIf(why !== undefined)("sync service", () => {
  let t: TestNats;
  let sshd: Sshd;
  let home: string;
  let supervisor: Supervisor;
  let bundle: string;

  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["sync", "sync-sessions", "remote"] });
    sshd = await startSshd(SYNC_REMOTE_USER);
    why = nodeMissingReason(sshd);
    if (why) {
      console.warn(`sync service tests skipped: ${why}`);
      return;
    }
    await sshd.master();
    bundle = await installBundle(sshd);
    home = await mkdtemp(join(tmpdir(), "cocalc-sync-svc-"));
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([
      syncService({
        stateFile: join(home, ".state", "sync.sqlite"),
        home,
        resolveTarget: () => ({ ssh: sshd.ssh, destination: sshd.destination, bundle }),
      }),
      // Keeps the remote-sessions view: a pair's session must be in it.
      remoteServiceForTests(join(home, ".state")),
    ]);
    await addSession(t, sshd.destination);
  });

  // A prerequisite found missing in beforeAll skips each test with the reason.
  beforeEach((ctx) => {
    if (why) ctx.skip(why);
  });

  afterAll(async () => {
    await supervisor?.stop();
    await sshd?.stop();
    await t?.cleanup();
    if (home) rmSync(home, { recursive: true, force: true });
    if (sshd) rmSync(join(sshd.home, "svc"), { recursive: true, force: true });
  });

  const send = async (type: string, data: unknown) =>
    (
      await t.nc.request(
        workspaceSubjects(TEST_WSID).command("sync"),
        JSON.stringify({ type, data }),
        { timeout: 30_000 },
      )
    ).json<{ ok: boolean; error?: { code: string; message: string } }>();

  const view = async (pair: string) => {
    const kv = await new Kvm(t.nc).open(Buckets.syncPairs);
    const e = await kv.get(Keys.syncPair(pair));
    return e?.operation === "PUT" && e.length > 0 ? e.json<SyncPairView>() : undefined;
  };

  /** Every item the pair's run log decided so far. */
  const decided = async (pair: string): Promise<DecidedItem[]> => {
    const items: DecidedItem[] = [];
    const consumer = await t.js.consumers.get(Streams.REMOTE, {
      filter_subjects: syncSubjects(sessionIdOfPair(pair), pair).run,
      deliver_policy: DeliverPolicy.All,
    });
    const msgs = await consumer.fetch({ max_messages: 1000, expires: 2000 });
    for await (const m of msgs) {
      const e = syncRegistry.parse(m.data);
      if (e.type === "SyncDecided") items.push(...e.data.items);
      if (m.info.pending === 0) break;
    }
    return items;
  };

  const remoteMessages = async () => (await t.jsm.streams.info(Streams.REMOTE)).state.messages;

  it("refuses bad input with a clear error and starts nothing", async () => {
    const before = await remoteMessages();
    const noSession = await send("AddSyncPair", {
      session: "nobody@127.0.0.1",
      local: "svc/never",
    });
    expect(noSession.error?.code).toBe("ERR_SYNC_NO_SESSION");
    expect(noSession.error?.message).toMatch(
      /connect it first with `cocalc-plus ssh nobody@127\.0\.0\.1`/,
    );
    const outside = await send("AddSyncPair", { session: sshd.destination, local: "/etc" });
    expect(outside.error?.code).toBe("ERR_SYNC_PATH");
    expect(outside.error?.message).toMatch(/outside the home directory/);
    const up = await send("AddSyncPair", { session: sshd.destination, local: "a/../../b" });
    expect(up.error?.code).toBe("ERR_SYNC_PATH");
    const badIgnore = await send("AddSyncPair", {
      session: sshd.destination,
      local: "svc/never",
      ignore: "ok\n*.[ch",
    });
    expect(badIgnore.error?.code).toBe("ERR_SYNC_IGNORE");
    expect(badIgnore.error?.message).toMatch(/line 2/);
    const badSession = await send("AddSyncPair", {
      session: "-oProxyCommand=x",
      local: "svc/never",
    });
    expect(badSession.error?.code).toBe("ERR_REMOTE_TARGET");
    expect(await remoteMessages()).toBe(before);
    expect(existsSync(join(sshd.home, "svc/never"))).toBe(false);
    expect(existsSync(join(home, "svc/never"))).toBe(false);

    expect((await send("AddSyncPair", { session: sshd.destination, local: "svc/outer" })).ok).toBe(
      true,
    );
    const nested = await send("AddSyncPair", {
      session: sshd.destination,
      local: "svc/outer/inner",
    });
    expect(nested.error?.code).toBe("ERR_SYNC_NESTED");
    expect(nested.error?.message).toMatch(/inside ~\/svc\/outer/);
    const around = await send("AddSyncPair", { session: sshd.destination, local: "svc" });
    expect(around.error?.code).toBe("ERR_SYNC_NESTED");
    const outer = pairIdFor(sshd.destination, "svc/outer");
    const rmOuter = await send("RemoveSyncPair", { pair: outer });
    expect(rmOuter.error).toBeUndefined();
    expect(rmOuter.ok).toBe(true);
    await until("outer removed", async () => ((await view(outer)) ? undefined : true));
    expect((await send("PauseSyncPair", { pair: outer })).error?.code).toBe("ERR_SYNC_NOT_FOUND");
  });

  it("syncs a pair: status view, log of decisions, pause, resume, check, remove", async () => {
    const local = join(home, "svc/proj");
    const remote = join(sshd.home, "svc/proj");
    mkdirSync(local, { recursive: true });
    writeFileSync(join(local, "a.txt"), "first");
    writeFileSync(join(local, "skip.log"), "no");
    expect(
      (
        await send("AddSyncPair", {
          session: sshd.destination,
          local: "~/svc/proj",
          ignore: "*.log",
          prefer: "local",
        })
      ).ok,
    ).toBe(true);
    const pair = pairIdFor(sshd.destination, "svc/proj");
    const synced = await until("all files synced", async () => {
      const v = await view(pair);
      return v?.status === "synced" && existsSync(join(remote, "a.txt")) ? v : undefined;
    });
    expect(synced).toMatchObject({ local: "svc/proj", remote: "svc/proj", paused: false });
    // Should this ever fail: what the run log says about the file names the culprit.
    expect(
      existsSync(join(remote, "skip.log"))
        ? { onRemote: true, decided: (await decided(pair)).filter((i) => i.path === "skip.log") }
        : { onRemote: false },
    ).toEqual({ onRemote: false });

    // A change on the remote propagates through the watch.
    writeFileSync(join(remote, "b.txt"), "from remote");
    await sshd.chownRemote("svc/proj");
    await until("remote file here", async () => existsSync(join(local, "b.txt")) || undefined);

    // Why is b.txt here? The log says.
    const items = await decided(pair);
    expect(items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: "a.txt", action: "copy", side: "local", size: 5 }),
        expect.objectContaining({ path: "b.txt", action: "copy", side: "remote", reason: "new" }),
      ]),
    );

    // A second pair of the same service keeps syncing: its copy of a file written after one in
    // the first pair is the sign that the service would have copied that one by then.
    const beaconLocal = join(home, "svc/beacon");
    const beaconRemote = join(sshd.home, "svc/beacon");
    mkdirSync(beaconLocal, { recursive: true });
    expect(
      (await send("AddSyncPair", { session: sshd.destination, local: "~/svc/beacon" })).ok,
    ).toBe(true);
    const beacon = pairIdFor(sshd.destination, "svc/beacon");
    await until("the beacon pair synced", async () =>
      (await view(beacon))?.status === "synced" ? true : undefined,
    );
    const beaconCopied = (name: string) => {
      writeFileSync(join(beaconLocal, name), "x");
      return until(`${name} copied by the beacon pair`, async () =>
        existsSync(join(beaconRemote, name)) ? true : undefined,
      );
    };

    // Paused: nothing propagates; resumed: it does.
    expect((await send("PauseSyncPair", { pair })).ok).toBe(true);
    await until("paused", async () => ((await view(pair))?.status === "paused" ? true : undefined));
    writeFileSync(join(local, "while-paused.txt"), "x");
    await beaconCopied("after-paused.txt");
    expect(existsSync(join(remote, "while-paused.txt"))).toBe(false);
    expect((await send("CheckSyncPair", { pair })).error?.code).toBe("ERR_COMMAND_REJECTED");
    expect((await send("ResumeSyncPair", { pair })).ok).toBe(true);
    await until("propagated after resume", async () =>
      existsSync(join(remote, "while-paused.txt")) ? true : undefined,
    );

    // A deep check finds a change that size and mtime hide.
    const v0 = await view(pair);
    writeFileSync(join(remote, "a.txt"), "FIRST");
    const { utimesSync, statSync } = await import("node:fs");
    const st = statSync(join(local, "a.txt"));
    utimesSync(join(remote, "a.txt"), st.atime, st.mtime);
    expect((await send("CheckSyncPair", { pair })).ok).toBe(true);
    let lastSeen: SyncPairView | undefined;
    await until("check found and fixed it", async () => {
      const v = await view(pair);
      lastSeen = v;
      return v?.status === "synced" &&
        v.cycle !== undefined &&
        v.cycle.n > (v0?.cycle?.n ?? 0) &&
        readFileSync(join(local, "a.txt"), "utf8") === readFileSync(join(remote, "a.txt"), "utf8")
        ? v
        : undefined;
    }).catch((err) => {
      throw new Error(`${err.message}: ${JSON.stringify(lastSeen)}`);
    });
    // Ignore patterns can change; the next cycle honours them.
    expect((await send("ChangeSyncPair", { pair, ignore: "" })).ok).toBe(true);
    await until("skip.log now synced", async () =>
      existsSync(join(remote, "skip.log")) ? true : undefined,
    );

    expect(existsSync(join(local, SYNC_TEMP_DIR))).toBe(true);
    expect(existsSync(join(remote, SYNC_TEMP_DIR))).toBe(true);
    expect((await send("RemoveSyncPair", { pair })).ok).toBe(true);
    await until("removed from the view", async () => ((await view(pair)) ? undefined : true));
    // Its temp dirs go with it, on both sides.
    await until("the temp dirs removed", async () =>
      !existsSync(join(local, SYNC_TEMP_DIR)) && !existsSync(join(remote, SYNC_TEMP_DIR))
        ? true
        : undefined,
    );
    writeFileSync(join(local, "after-remove.txt"), "x");
    await beaconCopied("after-removed.txt");
    expect(existsSync(join(remote, "after-remove.txt"))).toBe(false);
    // Removing a pair never deletes files.
    expect(existsSync(join(remote, "a.txt"))).toBe(true);
    expect(existsSync(join(local, "a.txt"))).toBe(true);
  });

  it("a removed session takes its pairs with it; another session's pairs stay, files stay", async () => {
    const other = "someone@elsewhere.invalid";
    await addSession(t, other);
    for (const [session, local] of [
      [sshd.destination, "svc/gone-a"],
      [sshd.destination, "svc/gone-b"],
      [other, "svc/stays"],
    ] as const) {
      mkdirSync(join(home, local), { recursive: true });
      writeFileSync(join(home, local, "kept.txt"), "x");
      expect((await send("AddSyncPair", { session, local })).ok).toBe(true);
    }
    const gone = [
      pairIdFor(sshd.destination, "svc/gone-a"),
      pairIdFor(sshd.destination, "svc/gone-b"),
    ];
    const stays = pairIdFor(other, "svc/stays");
    await until(
      "the pairs in the view",
      async () => (await Promise.all([...gone, stays].map(view))).every(Boolean) || undefined,
    );

    // Its person removes the session (the remote service has no daemon there to stop).
    const sid = sessionIdOf(sshd.destination);
    const removed = await (
      await t.nc.request(
        workspaceSubjects(TEST_WSID).command("remote"),
        JSON.stringify({ type: "RemoveSession", data: { sid } }),
        { timeout: 30_000 },
      )
    ).json<{ ok: boolean }>();
    expect(removed.ok).toBe(true);
    await until(
      "the session's pairs left the view",
      async () => (await Promise.all(gone.map(view))).every((v) => v === undefined) || undefined,
    );
    for (const local of ["svc/gone-a", "svc/gone-b"]) {
      await until(`the temp dirs of ${local} removed`, async () =>
        !existsSync(join(home, local, SYNC_TEMP_DIR)) &&
        !existsSync(join(sshd.home, local, SYNC_TEMP_DIR))
          ? true
          : undefined,
      );
    }
    // Gone with it, a new pair of it is refused.
    await until("the session left the view", async () => {
      const kv = await new Kvm(t.nc).open(Buckets.remoteSessions);
      const e = await kv.get(Keys.remoteSession(sid));
      return e === null || e.operation !== "PUT" ? true : undefined;
    });
    const late = await send("AddSyncPair", { session: sshd.destination, local: "svc/late" });
    expect(late.error?.code).toBe("ERR_SYNC_NO_SESSION");
    for (const pair of gone) {
      const subject = syncSubjects(sid, pair).config;
      const last = await lastSubjectSeq(t.jsm, Streams.REMOTE, subject);
      const [removed] = await readSubject(
        t.js,
        syncRegistry,
        Streams.REMOTE,
        subject,
        last - 1,
        last,
      );
      expect(removed?.event).toMatchObject({ type: "SyncPairRemoved", actor: "sync" });
    }
    expect(await view(stays)).toMatchObject({ session: other });
    expect(existsSync(join(home, "svc/gone-a", "kept.txt"))).toBe(true);
    expect((await send("RemoveSyncPair", { pair: stays })).ok).toBe(true);
  });
});
