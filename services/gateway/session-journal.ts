/**
 * The signed-in browsers' file as an append-only journal (0600, one JSON entry a line). A
 * change is one appended line, written before the change is acknowledged (a sign-in answers
 * after its line is in the file), so a sign-in costs one small write, not a rewrite of every
 * session. The file is rewritten whole (temp + rename, see writeSecretFile) only when it is
 * opened and when it has grown to several times what it holds (compaction).
 *
 * A crash (kill -9) can tear only the last line, whose change was never acknowledged: loading
 * drops it. Any other damage signs every browser out, the safe side. Lines are written, not
 * fsynced: like nats-server 2.9, a power loss can lose the newest ones (docs/architecture.md).
 */
import { appendFile, readFile } from "node:fs/promises";
import { writeSecretFile } from "../runtime/secret-file.js";

/** The first line of a journal: what the file is. */
const HEADER = { journal: "cocalc-browser-sessions", v: 2 } as const;

/** A session as the file keeps it. */
export interface StoredSession {
  id: string;
  /** sha256 of the secret, hex. */
  hash: string;
  created: string;
  /** What the browser said it is when it signed in, for a list of signed-in browsers. */
  label: string;
  /** Who signed in (a hub account); plus has one user and leaves it out. */
  subject?: string;
  /** NATS user keys the hub minted credentials for in this browser (revoked when it leaves). */
  natsKeys?: string[];
  /** Unix ms it was last used, as last written (at most SEEN_EVERY_MS behind the truth). */
  seen?: number;
}

export type JournalEntry =
  | { op: "add"; session: StoredSession }
  | { op: "seen"; id: string; at: number }
  | { op: "key"; id: string; key: string }
  | { op: "remove"; ids: string[] };

/** What a journal holds when it opens. */
export interface Loaded {
  sessions: StoredSession[];
  /** Why everyone was signed out, if the file was damaged. */
  damaged?: string;
  /** Whether the last line was torn (a crash during its write) and left out. */
  torn: boolean;
}

const isString = (x: unknown): x is string => typeof x === "string";

function validSession(x: unknown): x is StoredSession {
  const s = x as StoredSession;
  return (
    typeof s === "object" &&
    s !== null &&
    isString(s.id) &&
    isString(s.hash) &&
    /^[0-9a-f]{64}$/.test(s.hash) &&
    isString(s.created) &&
    (s.label === undefined || isString(s.label)) &&
    (s.subject === undefined || isString(s.subject)) &&
    (s.natsKeys === undefined || (Array.isArray(s.natsKeys) && s.natsKeys.every(isString))) &&
    (s.seen === undefined || Number.isFinite(s.seen))
  );
}

function validEntry(x: unknown): x is JournalEntry {
  const e = x as JournalEntry;
  if (typeof e !== "object" || e === null) return false;
  switch (e.op) {
    case "add":
      return validSession(e.session);
    case "seen":
      return isString(e.id) && Number.isFinite(e.at);
    case "key":
      return isString(e.id) && isString(e.key);
    case "remove":
      return Array.isArray(e.ids) && e.ids.every(isString);
    default:
      return false;
  }
}

/** Applies one entry to the sessions by id. */
export function applyEntry(byId: Map<string, StoredSession>, e: JournalEntry): void {
  switch (e.op) {
    case "add":
      byId.set(e.session.id, { ...e.session, label: e.session.label ?? "" });
      return;
    case "seen": {
      const s = byId.get(e.id);
      if (s) s.seen = Math.max(s.seen ?? 0, e.at);
      return;
    }
    case "key": {
      const s = byId.get(e.id);
      if (s && !s.natsKeys?.includes(e.key)) s.natsKeys = [...(s.natsKeys ?? []), e.key].slice(-20);
      return;
    }
    case "remove":
      for (const id of e.ids) byId.delete(id);
      return;
    default: {
      const never: never = e;
      throw new Error(`unhandled journal entry ${(never as { op: string }).op}`);
    }
  }
}

/** The sessions `text` (a journal, or the whole-file format before it) holds. */
export function parseJournal(text: string): Loaded {
  const byId = new Map<string, StoredSession>();
  const out = (damaged?: string, torn = false): Loaded => ({
    sessions: damaged ? [] : [...byId.values()],
    ...(damaged && { damaged }),
    torn,
  });
  if (text.trim() === "") return out();
  // The format before the journal: one JSON document { v: 1, sessions }.
  try {
    const legacy = JSON.parse(text) as { v?: number; sessions?: unknown[] };
    if (legacy?.v === 1 && Array.isArray(legacy.sessions)) {
      for (const s of legacy.sessions) if (validSession(s)) byId.set(s.id, s);
      return out();
    }
  } catch {
    // not one document: a journal (read below)
  }
  const lines = text.split("\n");
  // A file that does not end in a newline ends in a line whose write did not finish.
  const torn = lines.pop() !== "";
  let first = true;
  for (const line of lines) {
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      return out("a line of the sessions file is damaged");
    }
    if (first) {
      first = false;
      const h = entry as typeof HEADER;
      if (h?.journal !== HEADER.journal || h.v !== HEADER.v)
        return out("the sessions file is not a sessions journal");
      continue;
    }
    if (!validEntry(entry)) return out("an entry of the sessions file is not valid");
    applyEntry(byId, entry);
  }
  return out(undefined, torn);
}

export class SessionJournal {
  /** Lines in the file since it was last compacted (the header not counted). */
  private lines = 0;
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly file: string) {}

  /** Loads `file` (missing: empty), then rewrites it compacted, which also drops a torn line. */
  static async open(file: string): Promise<{ journal: SessionJournal; loaded: Loaded }> {
    let text = "";
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const loaded = parseJournal(text);
    const journal = new SessionJournal(file);
    await journal.compact(loaded.sessions);
    return { journal, loaded };
  }

  /** Appends `entry`; resolves once it is in the file. One write at a time, in call order. */
  append(entry: JournalEntry): Promise<void> {
    return this.queue(async () => {
      await appendFile(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
      this.lines++;
    });
  }

  /**
   * Whether the file has grown past what it holds (`live` sessions) enough to be rewritten:
   * more than 1000 lines and more than four per live session.
   */
  wantsCompaction(live: number): boolean {
    return this.lines > 1000 && this.lines > 4 * live;
  }

  /** Rewrites the file as exactly `sessions` (read when the write runs, after earlier ones). */
  compact(sessions: readonly StoredSession[] | (() => readonly StoredSession[])): Promise<void> {
    return this.queue(async () => {
      const now = typeof sessions === "function" ? sessions() : sessions;
      const body = [HEADER, ...now.map((session) => ({ op: "add", session }))]
        .map((l) => `${JSON.stringify(l)}\n`)
        .join("");
      await writeSecretFile(this.file, body);
      this.lines = 0;
    });
  }

  /** Resolves when every write asked for so far is done (or failed). */
  async settled(): Promise<void> {
    await this.writing.catch(() => undefined);
  }

  private queue(write: () => Promise<void>): Promise<void> {
    const next = this.writing.catch(() => undefined).then(write);
    this.writing = next;
    return next;
  }
}
