/**
 * A side's watcher journal on a real tree (real inotify): a scan asked for changes reports
 * exactly what a fresh walk would find different, for every kind of change, including one
 * made right after the scan began, and walks instead when the watcher may have lost events.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SYNC_TEMP_DIR } from "./ignore.js";
import { DiffScanner, type ScanLine, scanTree } from "./tree.js";

const dirs: string[] = [];
const scanners: DiffScanner[] = [];

afterEach(() => {
  for (const s of scanners.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  const root = await mkdtemp(join(tmpdir(), "cocalc-journal-"));
  dirs.push(root);
  const scanner = new DiffScanner();
  scanners.push(scanner);
  return { root, scanner };
}

async function walk(root: string): Promise<Map<string, ScanLine>> {
  const out = new Map<string, ScanLine>();
  await scanTree(root, { patterns: "" }, (l) => out.set(l.p, l));
  return out;
}

/** Applies a scan's answer to a model of the tree. */
function apply(model: Map<string, ScanLine>, lines: readonly ScanLine[], full: boolean): void {
  if (full) model.clear();
  for (const l of lines) {
    if (l.k === "-") model.delete(l.p);
    else model.set(l.p, l);
  }
}

/** A small deterministic random source, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

describe("watcher journal", () => {
  it.each([42, 7, 1234])(
    "reports every change a walk would find, without walking (seed %i)",
    async (seed) => {
      const { root, scanner } = await setup();
      for (let d = 0; d < 5; d++) {
        mkdirSync(join(root, `d${d}`, "sub"), { recursive: true });
        for (let f = 0; f < 5; f++) writeFileSync(join(root, `d${d}`, `f${f}.txt`), `${d}/${f}`);
      }
      scanner.watch(root, () => undefined);
      const model = new Map<string, ScanLine>();
      const first = await scanner.scan(root, { patterns: "", diff: true, changes: true });
      expect(first.via).toBe("listing");
      apply(model, first.lines, first.full);

      const rand = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      let n = 0;
      const ops: (() => void)[] = [
        () => writeFileSync(join(root, pick(["", "d0", "d1/sub", "d2"]), `new${++n}.txt`), "n"),
        () => {
          const files = [...model.values()].filter((l) => l.k === "f").map((l) => l.p);
          if (files.length) writeFileSync(join(root, pick(files)), `edit ${++n}`);
        },
        () => {
          // Same size, other mtime: a touch.
          const files = [...model.values()].filter((l) => l.k === "f").map((l) => l.p);
          if (files.length) {
            const f = join(root, pick(files));
            const t = new Date(Date.now() - 3600_000 * (1 + Math.floor(rand() * 100)));
            utimesSync(f, t, t);
          }
        },
        () => {
          const files = [...model.values()].filter((l) => l.k === "f").map((l) => l.p);
          if (files.length) rmSync(join(root, pick(files)), { force: true });
        },
        () => {
          const d = join(root, `fresh${++n}`, "deep", "er");
          mkdirSync(d, { recursive: true });
          writeFileSync(join(d, "x.txt"), "x");
          writeFileSync(join(root, `fresh${n}`, "y.txt"), "y");
        },
        () => {
          const ds = [...model.values()].filter((l) => l.k === "d").map((l) => l.p);
          if (ds.length) rmSync(join(root, pick(ds)), { recursive: true, force: true });
        },
        () => {
          const ds = [...model.values()].filter((l) => l.k === "d" && !l.p.includes("/"));
          if (ds.length) renameSync(join(root, pick(ds).p), join(root, `moved${++n}`));
        },
        () => {
          // A folder replaced by another of the same name: the watch must follow the new one.
          const ds = [...model.values()].filter((l) => l.k === "d").map((l) => l.p);
          if (!ds.length) return;
          const d = pick(ds);
          rmSync(join(root, d), { recursive: true, force: true });
          mkdirSync(join(root, d));
          writeFileSync(join(root, d, `inside${++n}.txt`), "i");
        },
      ];
      for (let round = 0; round < 150; round++) {
        const k = 1 + Math.floor(rand() * 4);
        for (let i = 0; i < k; i++) {
          try {
            pick(ops)();
          } catch (err) {
            // The model is from before this round: its pick may be gone by now.
            if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
          }
        }
        // Asked at once: no waiting for the watcher.
        const r = await scanner.scan(root, { patterns: "", diff: true, changes: true });
        expect(r.via, `round ${round}`).toBe("journal");
        apply(model, r.lines, r.full);
        expect(model, `round ${round}`).toEqual(await walk(root));
        // A write into a folder made just now is watched as well.
        const fresh = [...model.values()].filter((l) => l.k === "d").map((l) => l.p);
        if (fresh.length) writeFileSync(join(root, pick(fresh), `late${++n}.txt`), "late");
      }
      // Nothing changed: nothing to say.
      const settle = await scanner.scan(root, { patterns: "", diff: true, changes: true });
      apply(model, settle.lines, settle.full);
      const quiet = await scanner.scan(root, { patterns: "", diff: true, changes: true });
      expect(quiet).toMatchObject({ via: "journal", lines: [], full: false });
      expect(model).toEqual(await walk(root));
    },
  );

  it("a change made while a scan runs is reported by the next one", async () => {
    const { root, scanner } = await setup();
    mkdirSync(join(root, "a"));
    scanner.watch(root, () => undefined);
    const model = new Map<string, ScanLine>();
    const first = await scanner.scan(root, { patterns: "", diff: true, changes: true });
    apply(model, first.lines, first.full);
    for (let i = 0; i < 50; i++) {
      const running = scanner.scan(root, { patterns: "", diff: true, changes: true });
      // The scan has begun (its journal was taken); this write comes after.
      writeFileSync(join(root, "a", `during${i}.txt`), `${i}`);
      const r = await running;
      apply(model, r.lines, r.full);
    }
    const last = await scanner.scan(root, { patterns: "", diff: true, changes: true });
    apply(model, last.lines, last.full);
    expect(last.via).toBe("journal");
    expect(model).toEqual(await walk(root));
    expect(readFileSync(join(root, "a", "during49.txt"), "utf8")).toBe("49");
  });

  it("walks when the watcher may have lost events, or was not there for the last walk", async () => {
    const { root, scanner } = await setup();
    mkdirSync(join(root, "a"));
    // No watcher yet: a changes scan walks.
    const model = new Map<string, ScanLine>();
    const first = await scanner.scan(root, { patterns: "", diff: true, changes: true });
    apply(model, first.lines, first.full);
    scanner.watch(root, () => undefined);
    writeFileSync(join(root, "a", "x.txt"), "x");
    const second = await scanner.scan(root, { patterns: "", diff: true, changes: true });
    expect(second.via).toBe("walk");
    apply(model, second.lines, second.full);
    // More events than half the kernel's queue: some may have been dropped.
    const queue = Number(readFileSync("/proc/sys/fs/inotify/max_queued_events", "utf8"));
    // (Distinct files: the kernel merges repeated identical events.)
    for (let i = 0; i < Math.ceil(queue / 2) + 10; i++) writeFileSync(join(root, "a", `n${i}`), "");
    writeFileSync(join(root, "a", "y.txt"), "y");
    const third = await scanner.scan(root, { patterns: "", diff: true, changes: true });
    expect(third.via).toBe("walk");
    apply(model, third.lines, third.full);
    expect(model).toEqual(await walk(root));
    const fourth = await scanner.scan(root, { patterns: "", diff: true, changes: true });
    expect(fourth.via).toBe("journal");
    // The temp dir (and with it the fence) removed by hand: one walk, then journals again.
    rmSync(join(root, SYNC_TEMP_DIR), { recursive: true, force: true });
    writeFileSync(join(root, "a", "z.txt"), "z");
    const fifth = await scanner.scan(root, { patterns: "", diff: true, changes: true });
    expect(fifth.via).toBe("walk");
    apply(model, fourth.lines, fourth.full);
    apply(model, fifth.lines, fifth.full);
    writeFileSync(join(root, "a", "w.txt"), "w");
    const sixth = await scanner.scan(root, { patterns: "", diff: true, changes: true });
    expect(sixth.via).toBe("journal");
    apply(model, sixth.lines, sixth.full);
    expect(model).toEqual(await walk(root));
  });
});
