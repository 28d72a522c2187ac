/**
 * The last synced state of every pair, in SQLite: per path what both sides held after it was
 * last synced (one content, each side's mtime). A delete is propagated only for a path found
 * here. Written after each transfer batch, so a kill loses at most one batch's record (the
 * next cycle then finds both sides equal and records them).
 */
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import type { DecidedItem, RecordedDecision, SyncSide } from "../../shared/sync.js";
import type { BaseEntry, EntryKind } from "./path-decision.js";

/** The native SQLite module loads with the first sync pair, not with every start of plus. */
let sqlite: typeof Database | undefined;
function openSqlite(): typeof Database {
  sqlite ??= createRequire(import.meta.url)("better-sqlite3") as typeof Database;
  return sqlite;
}

interface Row {
  path: string;
  kind: EntryKind;
  size: number;
  hash: string | null;
  target: string | null;
  lm: number;
  rm: number;
}

function entryOf(r: Row): BaseEntry {
  return {
    kind: r.kind,
    size: r.size,
    ...(r.hash !== null && { hash: r.hash }),
    ...(r.target !== null && { target: r.target }),
    localMtime: r.lm,
    remoteMtime: r.rm,
  };
}

export class SyncState {
  private readonly db: Database.Database;
  private readonly putStmt: Database.Statement;
  private readonly delStmt: Database.Statement;
  private readonly getStmt: Database.Statement;
  private readonly decideStmt: Database.Statement;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.db = new (openSqlite())(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS base (
        pair TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
        hash TEXT, target TEXT, lm INTEGER NOT NULL, rm INTEGER NOT NULL,
        PRIMARY KEY (pair, path)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS pairs (pair TEXT PRIMARY KEY, cycles INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS decisions (
        pair TEXT NOT NULL, path TEXT NOT NULL, cycle INTEGER NOT NULL, at TEXT NOT NULL,
        action TEXT NOT NULL, reason TEXT, side TEXT,
        PRIMARY KEY (pair, path)
      ) WITHOUT ROWID;
    `);
    this.decideStmt = this.db.prepare(
      "INSERT OR REPLACE INTO decisions (pair, path, cycle, at, action, reason, side) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.putStmt = this.db.prepare(
      "INSERT OR REPLACE INTO base (pair, path, kind, size, hash, target, lm, rm) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.delStmt = this.db.prepare("DELETE FROM base WHERE pair = ? AND path = ?");
    this.getStmt = this.db.prepare(
      "SELECT path, kind, size, hash, target, lm, rm FROM base WHERE pair = ? AND path = ?",
    );
  }

  /** Every synced path of a pair. */
  load(pair: string): Map<string, BaseEntry> {
    const rows = this.db
      .prepare("SELECT path, kind, size, hash, target, lm, rm FROM base WHERE pair = ?")
      .all(pair) as Row[];
    return new Map(rows.map((r) => [r.path, entryOf(r)]));
  }

  /** The synced paths at or under `paths`. */
  loadUnder(pair: string, paths: readonly string[]): Map<string, BaseEntry> {
    const out = new Map<string, BaseEntry>();
    const under = this.db.prepare(
      "SELECT path, kind, size, hash, target, lm, rm FROM base WHERE pair = ? AND path > ? AND path < ?",
    );
    for (const p of paths) {
      const row = this.getStmt.get(pair, p) as Row | undefined;
      if (row) out.set(row.path, entryOf(row));
      // Children sort between "p/" and "p0" ("0" follows "/").
      for (const r of under.all(pair, `${p}/`, `${p}0`) as Row[]) out.set(r.path, entryOf(r));
    }
    return out;
  }

  /** Applies puts and deletes in one transaction. */
  write(pair: string, puts: Iterable<[string, BaseEntry]>, deletes: Iterable<string> = []): void {
    this.db.transaction(() => {
      for (const [path, e] of puts) {
        this.putStmt.run(
          pair,
          path,
          e.kind,
          e.size,
          e.hash ?? null,
          e.target ?? null,
          e.localMtime,
          e.remoteMtime,
        );
      }
      for (const path of deletes) this.delStmt.run(pair, path);
    })();
  }

  /** What was synced last at one path. */
  get(pair: string, path: string): BaseEntry | undefined {
    const row = this.getStmt.get(pair, path) as Row | undefined;
    return row ? entryOf(row) : undefined;
  }

  /** Keeps the latest decision per path (what "why is this file different?" is answered from). */
  recordDecisions(pair: string, cycle: number, at: string, items: readonly DecidedItem[]): void {
    if (items.length === 0) return;
    this.db.transaction(() => {
      for (const i of items) {
        this.decideStmt.run(pair, i.path, cycle, at, i.action, i.reason ?? null, i.side ?? null);
      }
    })();
  }

  /** The latest decision recorded at a path. */
  lastDecision(pair: string, path: string): RecordedDecision | undefined {
    const row = this.db
      .prepare("SELECT cycle, at, action, reason, side FROM decisions WHERE pair = ? AND path = ?")
      .get(pair, path) as
      | { cycle: number; at: string; action: string; reason: string | null; side: string | null }
      | undefined;
    if (!row) return undefined;
    return {
      cycle: row.cycle,
      at: row.at,
      action: row.action as DecidedItem["action"],
      ...(row.reason !== null && { reason: row.reason }),
      ...(row.side !== null && { side: row.side as SyncSide }),
    };
  }

  count(pair: string): number {
    return (
      this.db.prepare("SELECT count(*) AS n FROM base WHERE pair = ?").get(pair) as { n: number }
    ).n;
  }

  /** The next cycle number of a pair (kept across restarts). */
  nextCycle(pair: string): number {
    const row = this.db.prepare("SELECT cycles FROM pairs WHERE pair = ?").get(pair) as
      | { cycles: number }
      | undefined;
    const n = (row?.cycles ?? 0) + 1;
    this.db.prepare("INSERT OR REPLACE INTO pairs (pair, cycles) VALUES (?, ?)").run(pair, n);
    return n;
  }

  /** Forgets a pair (it was removed; its files stay). */
  drop(pair: string): void {
    this.db.prepare("DELETE FROM base WHERE pair = ?").run(pair);
    this.db.prepare("DELETE FROM pairs WHERE pair = ?").run(pair);
    this.db.prepare("DELETE FROM decisions WHERE pair = ?").run(pair);
  }

  close(): void {
    this.db.close();
  }
}
