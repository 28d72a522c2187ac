import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { StoredEvent } from "../../shared/envelope.js";
import type { CocalcError } from "../../shared/errors.js";
import { syncSubjects } from "../../shared/subjects.js";
import {
  type PairConfig,
  pairIdFor,
  type SyncEvent,
  type SyncPairView,
  sessionIdOfPair,
} from "../../shared/sync.js";
import { pairDecider, type SyncCommand, type SyncDecided } from "./decider.js";
import { syncPairsProjection } from "./projections.js";

const meta = { actor: "user", at: "2026-01-01T00:00:00.000Z" };
const cmd = (c: Omit<SyncCommand, "actor" | "at">) => ({ ...c, ...meta }) as SyncCommand;
const others: { pair: string; session: string; local: string; remote: string }[] = [];
const sessions = new Set(["a@h", "b@h"]);
const decider = pairDecider({
  home: "/home/me",
  others: () => others,
  session: (target) => (sessions.has(target) ? { sid: `s-${target}`, target } : undefined),
});
const config: PairConfig = {
  session: "a@h",
  local: "proj",
  remote: "proj",
  ignore: "",
  prefer: "local",
  outsideHome: false,
};
const added: SyncDecided = { type: "SyncPairAdded", data: config };
const pair = pairIdFor("a@h", "proj");
const code = (r: { error?: unknown }) => (r.error as CocalcError | undefined)?.code;

describe("sync pair decider", () => {
  it("adds a pair with normalised roots; the remote root defaults to the local one", () => {
    const r = given(decider, []).when(
      cmd({ type: "AddSyncPair", data: { session: "a@h", local: "/home/me/proj/" } }),
    );
    expect(r.events).toEqual([added]);
    const abs = given(decider, []).when(
      cmd({
        type: "AddSyncPair",
        data: { session: "a@h", local: "/srv/d", remote: "~/d", outsideHome: true },
      }),
    );
    expect(abs.events?.[0]?.data).toMatchObject({
      local: "/srv/d",
      remote: "d",
      outsideHome: true,
    });
  });

  it("refuses bad roots, bad patterns, nesting and a second pair of the same folder", () => {
    const add = (data: Record<string, unknown>) =>
      given(decider, []).when(
        cmd({ type: "AddSyncPair", data: { session: "a@h", ...data } } as never),
      );
    expect(code(add({ local: "/etc" }))).toBe("ERR_SYNC_PATH");
    expect(code(add({ local: "x", remote: "../y" }))).toBe("ERR_SYNC_PATH");
    expect(code(add({ local: "x", ignore: "a\n[b" }))).toBe("ERR_SYNC_IGNORE");
    others.push({ pair: "sOTHER", session: "a@h", local: "work", remote: "work" });
    try {
      expect(code(add({ local: "work/sub" }))).toBe("ERR_SYNC_NESTED");
      expect(code(add({ local: "elsewhere", remote: "work" }))).toBe("ERR_SYNC_NESTED");
    } finally {
      others.pop();
    }
    const again = given(decider, [added]).when(
      cmd({ type: "AddSyncPair", data: { session: "a@h", local: "proj" } }),
    );
    expect(code(again)).toBe("ERR_SYNC_NESTED");
  });

  it("refuses a pair of a session that does not exist, naming how to connect it", () => {
    const r = given(decider, []).when(
      cmd({ type: "AddSyncPair", data: { session: "nobody@h", local: "proj" } }),
    );
    expect(code(r)).toBe("ERR_SYNC_NO_SESSION");
    expect((r.error as Error).message).toContain("cocalc-plus ssh nobody@h");
  });

  it("pause, resume and change decide nothing when nothing changes; a removed pair is gone", () => {
    const paused: SyncDecided = { type: "SyncPairPaused", data: {} };
    expect(
      given(decider, [added]).when(cmd({ type: "PauseSyncPair", data: { pair } })).events,
    ).toEqual([paused]);
    expect(
      given(decider, [added, paused]).when(cmd({ type: "PauseSyncPair", data: { pair } })).events,
    ).toEqual([]);
    expect(
      code(given(decider, [added, paused]).when(cmd({ type: "CheckSyncPair", data: { pair } }))),
    ).toBe("ERR_COMMAND_REJECTED");
    expect(
      given(decider, [added]).when(cmd({ type: "ChangeSyncPair", data: { pair, prefer: "local" } }))
        .events,
    ).toEqual([]);
    expect(
      code(
        given(decider, [added]).when(cmd({ type: "ChangeSyncPair", data: { pair, ignore: "[" } })),
      ),
    ).toBe("ERR_SYNC_IGNORE");
    const removed: SyncDecided = { type: "SyncPairRemoved", data: {} };
    expect(
      code(given(decider, [added, removed]).when(cmd({ type: "ResumeSyncPair", data: { pair } }))),
    ).toBe("ERR_SYNC_NOT_FOUND");
  });
});

describe("sync-pairs projection", () => {
  let seq = 0;
  const stored = (
    type: string,
    data: unknown,
    subject: string = syncSubjects(sessionIdOfPair(pair), pair).config,
  ) =>
    ({
      event: {
        type,
        v: 1,
        id: `id${++seq}xxxxxx`,
        at: `2026-01-01T00:00:0${seq % 10}.000Z`,
        actor: "t",
        data,
      },
      seq,
      subject,
      time: "",
    }) as unknown as StoredEvent<SyncEvent>;
  const run = syncSubjects(sessionIdOfPair(pair), pair).run;

  it("goes starting → syncing with progress → all synced; keeps conflicts; pause wins over status", () => {
    let v: SyncPairView | null = syncPairsProjection.evolve(null, stored("SyncPairAdded", config));
    expect(v).toMatchObject({ pair, status: "starting", paused: false, conflicts: [] });
    v = syncPairsProjection.evolve(
      v,
      stored(
        "SyncCycleStarted",
        {
          cycle: 1,
          kind: "full",
          localEntries: 3,
          remoteEntries: 0,
          pendingFiles: 3,
          pendingBytes: 300,
        },
        run,
      ),
    );
    expect(v?.status).toBe("syncing");
    v = syncPairsProjection.evolve(
      v,
      stored(
        "SyncTransferred",
        { cycle: 1, from: "local", files: 2, bytes: 200, ms: 5, doneFiles: 2, doneBytes: 200 },
        run,
      ),
    );
    expect(v?.cycle).toMatchObject({ doneFiles: 2, doneBytes: 200 });
    v = syncPairsProjection.evolve(
      v,
      stored(
        "SyncConflictKept",
        { cycle: 1, path: "a", winner: "local", keptAs: "a.conflict-remote-x", reason: "both-new" },
        run,
      ),
    );
    v = syncPairsProjection.evolve(
      v,
      stored(
        "SyncCycleFinished",
        { cycle: 1, copied: 3, deleted: 0, conflicts: 1, bytes: 300, ms: 9, synced: 3 },
        run,
      ),
    );
    expect(v).toMatchObject({ status: "synced", synced: 3, conflicts: [{ path: "a" }] });
    v = syncPairsProjection.evolve(v, stored("SyncPairPaused", {}));
    v = syncPairsProjection.evolve(
      v,
      stored("SyncCycleFailed", { cycle: 2, code: "ERR_SYNC_TRANSFER", message: "stopped" }, run),
    );
    expect(v?.status).toBe("paused");
    expect(syncPairsProjection.evolve(v, stored("SyncPairRemoved", {}))).toBeNull();
  });

  it("a conflict is settled only by naming a conflict copy of its path, on a running pair; the direction changes once", () => {
    const resolve = (path: string, keptAs: string) =>
      cmd({ type: "ResolveSyncConflict", data: { pair, path, keptAs, keep: "local" } });
    const copy = "d/a.conflict-remote-20261207T101500Z.txt";
    expect(given(decider, [added]).when(resolve("d/a.txt", copy)).events).toEqual([
      {
        type: "SyncConflictResolveRequested",
        data: { path: "d/a.txt", keptAs: copy, keep: "local" },
      },
    ]);
    for (const [path, keptAs] of [
      ["d/a.txt", "d/b.txt"],
      ["d/a.txt", "../etc/a.conflict-remote-20261207T101500Z.txt"],
      ["../a.txt", "../a.conflict-remote-20261207T101500Z.txt"],
      ["d/a.txt", "d/a.conflict-other-20261207T101500Z.txt"],
      ["d/a.txt", "e/a.conflict-remote-20261207T101500Z.txt"],
    ] as const) {
      expect(code(given(decider, [added]).when(resolve(path, keptAs))), keptAs).toBe(
        "ERR_SYNC_PATH",
      );
    }
    const paused: SyncDecided = { type: "SyncPairPaused", data: {} };
    expect(code(given(decider, [added, paused]).when(resolve("d/a.txt", copy)))).toBe(
      "ERR_COMMAND_REJECTED",
    );
    const mirror = cmd({ type: "ChangeSyncPair", data: { pair, direction: "to-remote" } });
    expect(given(decider, [added]).when(mirror).events).toEqual([
      { type: "SyncPairChanged", data: { direction: "to-remote" } },
    ]);
    const changed: SyncDecided = { type: "SyncPairChanged", data: { direction: "to-remote" } };
    expect(given(decider, [added, changed]).when(mirror).events).toEqual([]);
    const both = cmd({ type: "ChangeSyncPair", data: { pair, direction: "both" } });
    expect(given(decider, [added]).when(both).events).toEqual([]);
  });
});
