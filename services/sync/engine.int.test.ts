/**
 * The sync engine against a real sshd on loopback, a second local user as the remote, the
 * plus bundle installed in that user's home, rsync on both sides.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Uncommitted } from "../../shared/envelope.js";
import { type PairConfig, pairIdFor, type SyncRunEvent } from "../../shared/sync.js";
import {
  installBundle,
  nodeMissingReason,
  type Sshd,
  SYNC_REMOTE_USER,
  sshdSkipReason,
  startSshd,
} from "../../test/helpers/sshd.js";
import { PairEngine } from "./engine.js";
import { SYNC_TEMP_DIR } from "./ignore.js";
import type { RemoteTarget } from "./sides.js";
import { SyncState } from "./state.js";

const WORKER = new URL("../../dist/test/helpers/sync-worker.js", import.meta.url).pathname;
const BUNDLE_BUILT = existsSync(new URL("../../dist/bundle/plus.js", import.meta.url));

let why =
  sshdSkipReason() ?? (BUNDLE_BUILT ? undefined : "dist/bundle is not built (npm run build)");
if (why) console.warn(`sync engine tests skipped: ${why}`);

/** Every file under dir (temp dir excluded) with its content. */
function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (p === SYNC_TEMP_DIR) continue;
      if (e.isDirectory()) walk(p);
      else out.set(p, readFileSync(join(dir, p), "utf8"));
    }
  };
  if (existsSync(dir)) walk("");
  return out;
}

function makeTree(dir: string, files: number, prefix: string): void {
  for (let i = 0; i < files; i++) {
    const d = join(dir, `${prefix}${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${i}.txt`), `${prefix} file ${i}\n`);
  }
}

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(why !== undefined)("sync engine over ssh", () => {
  let sshd: Sshd;
  let bundle: string;
  let localHome: string;
  let stateFile: string;
  let state: SyncState;
  let n = 0;
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

  beforeAll(async () => {
    sshd = await startSshd(SYNC_REMOTE_USER);
    const missing = nodeMissingReason(sshd);
    if (missing) {
      why = missing;
      console.warn(`sync engine tests skipped: ${missing}`);
      return;
    }
    await sshd.master();
    bundle = await installBundle(sshd);
    localHome = await mkdtemp(join(tmpdir(), "cocalc-sync-local-"));
    stateFile = join(localHome, "state", "sync.sqlite");
    state = new SyncState(stateFile);
  });

  // A prerequisite found missing in beforeAll skips each test with the reason.
  beforeEach((ctx) => {
    if (why) ctx.skip(why);
  });

  afterAll(async () => {
    state?.close();
    await sshd?.stop();
    if (localHome) rmSync(localHome, { recursive: true, force: true });
    if (sshd) rmSync(join(sshd.home, "synctest"), { recursive: true, force: true });
  });

  function target(): RemoteTarget {
    return { ssh: sshd.ssh, destination: sshd.destination, bundle };
  }

  /** A new pair with its own roots; `remote` is relative to the remote home. */
  function pair(
    opts: Partial<PairConfig> = {},
    beforePlace?: ConstructorParameters<typeof PairEngine>[0]["beforePlace"],
  ) {
    n++;
    const config: PairConfig = {
      session: sshd.destination,
      local: `p${n}`,
      remote: `synctest/p${n}`,
      ignore: "",
      prefer: "local",
      outsideHome: false,
      ...opts,
    };
    const events: Uncommitted<SyncRunEvent>[] = [];
    const id = pairIdFor(config.session, config.local);
    const engine = new PairEngine({
      pair: id,
      config,
      target: target(),
      state,
      home: localHome,
      log,
      rescanMs: 60_000,
      emit: async (e) => {
        events.push(e);
      },
      ...(beforePlace && { beforePlace }),
    });
    return {
      id,
      config,
      engine,
      events,
      local: join(localHome, config.local),
      remote: join(sshd.home, config.remote),
    };
  }

  it("syncs a 10k-file tree both ways, creating the missing remote root", async () => {
    const p = pair();
    makeTree(p.local, 10_000, "L");
    expect(existsSync(p.remote)).toBe(false);
    const first = await p.engine.cycle("full");
    expect(first.copied).toBeGreaterThanOrEqual(10_000);
    expect(tree(p.remote)).toEqual(tree(p.local));

    makeTree(p.remote, 10_000, "R");
    await sshd.chownRemote(p.config.remote);
    const second = await p.engine.cycle("full");
    expect(second.copied).toBeGreaterThanOrEqual(10_000);
    const both = tree(p.local);
    expect(both.size).toBe(20_000);
    expect(tree(p.remote)).toEqual(both);

    // Nothing left to do: a cycle that changes nothing.
    const third = await p.engine.cycle("full");
    expect([third.copied, third.deleted, third.conflicts]).toEqual([0, 0, 0]);
    // Every transfer is in the log with its files and bytes.
    const transferred = p.events.filter((e) => e.type === "SyncTransferred");
    expect(transferred.length).toBeGreaterThan(0);
    const decided = p.events.flatMap((e) => (e.type === "SyncDecided" ? e.data.items : []));
    expect(decided.filter((i) => i.action === "copy" && i.side === "remote").length).toBe(
      10_000 + 100,
    );

    // A deep check hashes every file of both sides and says how far it is as it goes.
    const check = await p.engine.cycle("check");
    const told = p.events.flatMap((e) =>
      e.type === "SyncHashProgress" && e.data.cycle === check.cycle ? [e.data] : [],
    );
    expect(told.length).toBeGreaterThanOrEqual(2);
    expect(told[0]).toEqual({ cycle: check.cycle, hashed: 0, total: 40_000 });
    expect(told.at(-1)).toEqual({ cycle: check.cycle, hashed: 40_000, total: 40_000 });
    expect([check.copied, check.deleted, check.conflicts]).toEqual([0, 0, 0]);
  });

  it("propagates edits and deletes from each side, and keeps both versions of a conflict", async () => {
    const p = pair({ prefer: "remote" });
    mkdirSync(join(p.local, "d"), { recursive: true });
    for (const f of ["a.txt", "b.txt", "c.txt", "d/e.txt"]) writeFileSync(join(p.local, f), f);
    await p.engine.cycle("full");
    expect(tree(p.remote).size).toBe(4);

    writeFileSync(join(p.local, "a.txt"), "local edit");
    writeFileSync(join(p.remote, "b.txt"), "remote edit");
    rmSync(join(p.local, "c.txt"));
    rmSync(join(p.remote, "d"), { recursive: true });
    await p.engine.cycle("full");
    expect(readFileSync(join(p.remote, "a.txt"), "utf8")).toBe("local edit");
    expect(readFileSync(join(p.local, "b.txt"), "utf8")).toBe("remote edit");
    expect(existsSync(join(p.remote, "c.txt"))).toBe(false);
    expect(existsSync(join(p.local, "d"))).toBe(false);
    const deletes = p.events.filter((e) => e.type === "SyncDeleted");
    expect(deletes.flatMap((e) => (e.type === "SyncDeleted" ? e.data.paths : []))).toEqual(
      expect.arrayContaining(["c.txt", "d/e.txt", "d"]),
    );

    // Both sides edit the same file before the next cycle.
    writeFileSync(join(p.local, "a.txt"), "local version");
    writeFileSync(join(p.remote, "a.txt"), "remote version!");
    await p.engine.cycle("full");
    await p.engine.cycle("full");
    const local = tree(p.local);
    expect(tree(p.remote)).toEqual(local);
    expect(local.get("a.txt")).toBe("remote version!");
    const kept = [...local.keys()].filter((k) => k.startsWith("a.conflict-local-"));
    expect(kept).toHaveLength(1);
    expect(local.get(kept[0]!)).toBe("local version");
    const conflict = p.events.find((e) => e.type === "SyncConflictKept");
    expect(conflict?.data).toMatchObject({ path: "a.txt", winner: "remote", keptAs: kept[0] });
  });

  it("a conflict is settled as asked: the version at the path, the kept copy's, or both files", async () => {
    const p = pair({ prefer: "remote" });
    mkdirSync(p.local, { recursive: true });
    for (const f of ["a.txt", "b.txt", "c.txt"]) writeFileSync(join(p.local, f), `${f} first`);
    await p.engine.cycle("full");
    for (const f of ["a.txt", "b.txt", "c.txt"]) {
      writeFileSync(join(p.local, f), `${f} local`);
      writeFileSync(join(p.remote, f), `${f} remote!`);
    }
    await p.engine.cycle("full");
    await p.engine.cycle("full");
    const kept = (f: string) => {
      const e = p.events.find((x) => x.type === "SyncConflictKept" && x.data.path === f);
      return (e as Extract<SyncRunEvent, { type: "SyncConflictKept" }>).data.keptAs;
    };
    // The remote won (prefer), the local versions are kept beside, on both sides by now.
    expect(tree(p.remote).get(kept("b.txt"))).toBe("b.txt local");

    const settled = async (f: string, keep: "local" | "remote" | "both", copy = kept(f)) => {
      const answered = () =>
        p.events.find(
          (x) => x.type === "SyncConflictResolved" && x.data.path === f && x.data.keptAs === copy,
        );
      await p.engine.start();
      p.engine.resolve(f, copy, keep);
      await until("settled", () => answered() !== undefined);
      await p.engine.idle();
      await p.engine.stop();
      return answered()!;
    };
    expect((await settled("a.txt", "remote")).data).toMatchObject({ ok: true });
    expect((await settled("b.txt", "local")).data).toMatchObject({ ok: true });
    expect((await settled("c.txt", "both")).data).toMatchObject({ ok: true });
    await p.engine.cycle("full");
    const local = tree(p.local);
    expect(tree(p.remote)).toEqual(local);
    expect(local.get("a.txt")).toBe("a.txt remote!");
    expect(local.has(kept("a.txt"))).toBe(false);
    expect(local.get("b.txt")).toBe("b.txt local");
    expect(local.has(kept("b.txt"))).toBe(false);
    expect(local.get("c.txt")).toBe("c.txt remote!");
    expect(local.get(kept("c.txt"))).toBe("c.txt local");

    // Only a conflict copy of the path may be named: nothing else is touched.
    const refused = await settled("c.txt", "remote", "a.txt");
    expect(refused.data).toMatchObject({
      ok: false,
      message: "a.txt is not a conflict copy of c.txt",
    });
    expect(tree(p.local).get("a.txt")).toBe("a.txt remote!");
  });

  it("never deletes a file the state does not know as synced", async () => {
    const p = pair();
    mkdirSync(p.local, { recursive: true });
    mkdirSync(p.remote, { recursive: true });
    writeFileSync(join(p.local, "only-local.txt"), "x");
    writeFileSync(join(p.remote, "only-remote.txt"), "y");
    await sshd.chownRemote(p.config.remote);
    await p.engine.cycle("full");
    expect(new Set(tree(p.local).keys())).toEqual(new Set(["only-local.txt", "only-remote.txt"]));
    expect(p.events.some((e) => e.type === "SyncDeleted")).toBe(false);
  });

  it("a mirror makes the other side a copy: its edits undone, what only it holds deleted (ignored files kept), no conflict copies", async () => {
    for (const direction of ["to-remote", "to-local"] as const) {
      const p = pair({ direction, ignore: "*.keep" });
      const [src, copy] = direction === "to-remote" ? [p.local, p.remote] : [p.remote, p.local];
      mkdirSync(join(src, "d"), { recursive: true });
      mkdirSync(join(copy, "extra"), { recursive: true });
      for (const f of ["a.txt", "d/b.txt"]) writeFileSync(join(src, f), `source ${f}`);
      writeFileSync(join(copy, "a.txt"), "the copy's own a");
      writeFileSync(join(copy, "only-copy.txt"), "only here");
      writeFileSync(join(copy, "extra", "x.txt"), "x");
      writeFileSync(join(copy, "mine.keep"), "ignored, kept");
      await sshd.chownRemote(p.config.remote);
      const first = await p.engine.cycle("full");
      expect(first.conflicts).toBe(0);
      const want = new Map([
        ["a.txt", "source a.txt"],
        ["d/b.txt", "source d/b.txt"],
      ]);
      expect(tree(src)).toEqual(want);
      expect(tree(copy)).toEqual(new Map([...want, ["mine.keep", "ignored, kept"]]));
      expect(existsSync(join(copy, "extra"))).toBe(false);

      // Later: an edit and a delete on the copy's side are undone; the source's edits go over.
      writeFileSync(join(copy, "a.txt"), "edited on the copy");
      rmSync(join(copy, "d", "b.txt"));
      writeFileSync(join(src, "c.txt"), "new in source");
      await p.engine.cycle("full");
      expect(tree(copy)).toEqual(
        new Map([...want, ["c.txt", "new in source"], ["mine.keep", "ignored, kept"]]),
      );
      rmSync(join(src, "c.txt"));
      await p.engine.cycle("full");
      expect(existsSync(join(copy, "c.txt"))).toBe(false);
      expect(p.events.some((e) => e.type === "SyncConflictKept")).toBe(false);
      // The source is never written to.
      expect(tree(src)).toEqual(want);
    }
  });

  it("respects ignore patterns and .gitignore files on either side", async () => {
    const p = pair({ ignore: "*.log\nbuild/\n!keep.log" });
    mkdirSync(join(p.local, "build"), { recursive: true });
    mkdirSync(join(p.local, "src"), { recursive: true });
    writeFileSync(join(p.local, "a.log"), "x");
    writeFileSync(join(p.local, "keep.log"), "x");
    writeFileSync(join(p.local, "build", "out.o"), "x");
    writeFileSync(join(p.local, "src", "main.c"), "x");
    writeFileSync(join(p.local, "src", "gen.tmp"), "x");
    writeFileSync(join(p.local, "src", ".gitignore"), "*.tmp\n");
    await p.engine.cycle("full");
    expect(new Set(tree(p.remote).keys())).toEqual(
      new Set(["keep.log", "src/main.c", "src/.gitignore"]),
    );
  });

  it("watches both sides: a change on either propagates without a full rescan; stop pauses it", async () => {
    const p = pair();
    mkdirSync(p.local, { recursive: true });
    await p.engine.start();
    await p.engine.idle();
    writeFileSync(join(p.local, "from-local.txt"), "hello");
    await until("the local file on the remote", () => existsSync(join(p.remote, "from-local.txt")));
    writeFileSync(join(p.remote, "from-remote.txt"), "hi");
    await sshd.chownRemote(p.config.remote);
    await until("the remote file locally", () => existsSync(join(p.local, "from-remote.txt")));
    expect(p.events.some((e) => e.type === "SyncCycleStarted" && e.data.kind === "watch")).toBe(
      true,
    );

    // A second pair keeps watching: its copy of a file written after ours is the sign that a
    // watching engine would have copied ours by then.
    const beacon = pair();
    mkdirSync(beacon.local, { recursive: true });
    await beacon.engine.start();
    await beacon.engine.idle();
    await p.engine.stop();
    const stoppedAt = p.events.length;
    writeFileSync(join(p.local, "while-paused.txt"), "x");
    writeFileSync(join(beacon.local, "written-after.txt"), "x");
    await until("the watching pair copied a later write", () =>
      existsSync(join(beacon.remote, "written-after.txt")),
    );
    await beacon.engine.stop();
    expect(existsSync(join(p.remote, "while-paused.txt"))).toBe(false);
    expect(p.events.slice(stoppedAt)).toEqual([]);
    await p.engine.start();
    await until("the paused change after resume", () =>
      existsSync(join(p.remote, "while-paused.txt")),
    );
    await p.engine.stop();
  });

  it("an edit made on the receiving side while a transfer runs is never overwritten: both versions are kept", async () => {
    // The hook runs after rsync moved the batch and before it is put in place: a write there
    // is one made between the scan and the end of the transfer, every time.
    let race: ((batch: { from: string; paths: readonly string[] }) => Promise<void>) | undefined;
    const p = pair({ prefer: "local" }, async (batch) => {
      const r = race;
      race = undefined;
      await r?.(batch);
    });
    mkdirSync(p.local, { recursive: true });
    writeFileSync(join(p.local, "edited.txt"), "synced");
    await p.engine.cycle("full");
    expect(readFileSync(join(p.remote, "edited.txt"), "utf8")).toBe("synced");

    // Local → remote: an edit of a synced file, and a new file the remote creates meanwhile.
    writeFileSync(join(p.local, "edited.txt"), "local edit");
    writeFileSync(join(p.local, "new.txt"), "local new");
    race = async (batch) => {
      expect(batch.from).toBe("local");
      writeFileSync(join(p.remote, "edited.txt"), "remote edit during the transfer");
      writeFileSync(join(p.remote, "new.txt"), "remote new during the transfer");
      await sshd.chownRemote(p.config.remote);
    };
    const racing = await p.engine.cycle("full");
    expect(racing.kept).toBe(2);
    expect(readFileSync(join(p.remote, "edited.txt"), "utf8")).toBe(
      "remote edit during the transfer",
    );
    expect(readFileSync(join(p.remote, "new.txt"), "utf8")).toBe("remote new during the transfer");
    const keptEvent = p.events.find((e) => e.type === "SyncTransferred" && e.data.kept);
    expect(
      keptEvent?.type === "SyncTransferred" && [...(keptEvent.data.kept ?? [])].sort(),
    ).toEqual(["edited.txt", "new.txt"]);
    // The next cycles see both sides changed: a conflict, each version kept.
    await p.engine.cycle("full");
    await p.engine.cycle("full");
    let local = tree(p.local);
    expect(tree(p.remote)).toEqual(local);
    expect(local.get("edited.txt")).toBe("local edit");
    expect(local.get("new.txt")).toBe("local new");
    const versions = (prefix: string) =>
      [...local.entries()].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
    expect(versions("edited.conflict-remote-")).toEqual(["remote edit during the transfer"]);
    expect(versions("new.conflict-remote-")).toEqual(["remote new during the transfer"]);

    // Remote → local: the local side edits the file while it comes across.
    writeFileSync(join(p.remote, "back.txt"), "remote version");
    await sshd.chownRemote(p.config.remote);
    race = async (batch) => {
      expect(batch.from).toBe("remote");
      writeFileSync(join(p.local, "back.txt"), "local write during the transfer");
    };
    const back = await p.engine.cycle("full");
    expect(back.kept).toBe(1);
    expect(readFileSync(join(p.local, "back.txt"), "utf8")).toBe("local write during the transfer");
    await p.engine.cycle("full");
    await p.engine.cycle("full");
    local = tree(p.local);
    expect(tree(p.remote)).toEqual(local);
    expect(local.get("back.txt")).toBe("local write during the transfer");
    expect(versions("back.conflict-remote-")).toEqual(["remote version"]);
  });

  it("watch cycles ask the watchers' journals and miss no change made while the pair runs", async () => {
    const p = pair();
    makeTree(p.local, 800, "L");
    await p.engine.start();
    await p.engine.idle();
    // Changes on both sides, some while cycles run (the writes do not wait for them).
    let seq = 0;
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 5; i++) {
        seq++;
        writeFileSync(join(p.local, `L${round % 3}`, `w${seq}.txt`), `local ${seq}`);
        writeFileSync(join(p.local, `L${(round + 1) % 3}`, `f${seq}.txt`), `edited ${seq}`);
        mkdirSync(join(p.remote, `R${round}`, `sub${i}`), { recursive: true });
        writeFileSync(join(p.remote, `R${round}`, `sub${i}`, `r${seq}.txt`), `remote ${seq}`);
      }
      // Whole folders go too (L3 to L7; the writes above go to L0 to L2).
      if (round >= 3 && round % 2 === 1)
        rmSync(join(p.local, `L${round}`), { recursive: true, force: true });
      await sshd.chownRemote(p.config.remote);
      await new Promise((r) => setTimeout(r, round * 20));
    }
    await until("both sides equal", () => {
      const l = tree(p.local);
      const r = tree(p.remote);
      return l.size === r.size && [...l].every(([k, v]) => r.get(k) === v);
    });
    await p.engine.idle();
    const s = await p.engine.cycle("watch");
    expect(s.via).toEqual({ local: "journal", remote: "journal" });
    expect([s.copied, s.deleted, s.conflicts]).toEqual([0, 0, 0]);
    expect(tree(p.remote)).toEqual(tree(p.local));
    const kinds = p.events.flatMap((e) => (e.type === "SyncCycleStarted" ? [e.data.kind] : []));
    // One walk when the watches came up; every later cycle came from the watchers.
    expect(kinds[0]).toBe("full");
    expect(kinds.slice(1).every((k) => k === "watch")).toBe(true);
    await p.engine.stop();
  });

  it("says clearly when rsync is missing on either side, and moves nothing", async () => {
    // A Node whose PATH has no rsync: on the remote through the target's node, here through
    // a worker's PATH.
    const bin = await mkdtemp(join(tmpdir(), "cocalc-norsync-"));
    for (const tool of ["node", "ssh"]) {
      const where = execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
      symlinkSync(where, join(bin, tool));
    }
    const wrapper = join(bin, "node-without-rsync");
    writeFileSync(wrapper, `#!/bin/sh\nPATH=${bin} exec ${join(bin, "node")} "$@"\n`, {
      mode: 0o755,
    });
    chmodSync(bin, 0o755);
    const p = pair();
    mkdirSync(p.local, { recursive: true });
    writeFileSync(join(p.local, "x.txt"), "x");
    const engine = new PairEngine({
      pair: p.id,
      config: p.config,
      target: { ...target(), node: wrapper },
      state,
      home: localHome,
      log,
      emit: async (e) => {
        p.events.push(e);
      },
    });
    await expect(engine.cycle("full")).rejects.toMatchObject({
      code: "ERR_SYNC_RSYNC_MISSING",
      message: expect.stringContaining(`rsync is not installed on ${sshd.user}@127.0.0.1`),
    });
    expect(p.events.at(-1)).toMatchObject({
      type: "SyncCycleFailed",
      data: { code: "ERR_SYNC_RSYNC_MISSING" },
    });
    await engine.stop();

    const local = spawnSync(
      process.execPath,
      [
        WORKER,
        JSON.stringify({
          pair: p.id,
          config: p.config,
          target: target(),
          stateFile: join(localHome, "state", "norsync.sqlite"),
          home: localHome,
        }),
      ],
      { env: { ...process.env, PATH: bin }, encoding: "utf8", timeout: 60_000 },
    );
    expect(local.status).toBe(1);
    expect(local.stderr).toMatch(/rsync is not installed on this machine/);
    expect(existsSync(join(p.remote, "x.txt"))).toBe(false);
    rmSync(bin, { recursive: true, force: true });
  });

  it("a sync process killed mid-transfer leaves no partial file; a restart completes", async () => {
    const p = pair();
    mkdirSync(p.local, { recursive: true });
    const big = Buffer.alloc(64 * 1024 * 1024, 7);
    for (let i = 0; i < 4; i++) writeFileSync(join(p.local, `big${i}.bin`), big);
    makeTree(p.local, 500, "s");
    const run = () =>
      spawn(
        process.execPath,
        [
          WORKER,
          JSON.stringify({
            pair: p.id,
            config: p.config,
            target: target(),
            stateFile: join(localHome, "state", "worker.sqlite"),
            home: localHome,
            batchFiles: 100,
          }),
        ],
        { detached: true, stdio: ["ignore", "pipe", "pipe"] },
      );
    const first = run();
    let firstOut = "";
    first.stderr!.on("data", (d) => {
      firstOut += d.toString();
    });
    const tmp = join(p.remote, SYNC_TEMP_DIR);
    await until("a transfer in flight", () => existsSync(tmp) && readdirSync(tmp).length > 0).catch(
      (err) => {
        throw new Error(`${err.message}; the sync process said: ${firstOut}`);
      },
    );
    process.kill(-first.pid!, "SIGKILL");
    await new Promise((r) => first.on("close", r));
    // Whatever made it is whole; the rest is absent, never cut short.
    for (const [path, text] of tree(p.remote)) {
      expect(statSync(join(p.remote, path)).size, path).toBe(statSync(join(p.local, path)).size);
      if (!path.endsWith(".bin")) expect(text).toBe(readFileSync(join(p.local, path), "utf8"));
    }
    const second = run();
    let out = "";
    second.stdout!.on("data", (d) => {
      out += d.toString();
    });
    const code = await new Promise((r) => second.on("close", r));
    expect(code, out).toBe(0);
    expect(tree(p.remote).size).toBe(tree(p.local).size);
    for (const path of tree(p.local).keys()) {
      expect(statSync(join(p.remote, path)).size).toBe(statSync(join(p.local, path)).size);
    }
    expect(readdirSync(tmp)).toEqual([]);
  });
});
