/**
 * A document's history for the history panel, read a page at a time from the newest. The
 * first page starts at the newest snapshot (`doc-snapshots`, stored every 200 patches), so it
 * shows without reading older history. An older page is found by counting (a consumer's
 * pending count from a sequence: no message read), then read. A version's text is reached
 * from the nearest text known: forward through later patches, or back through earlier ones,
 * each undone. History is the stream itself; the store shows it as it was when opened, with
 * the names given to versions (the document's names subject, read whole: people name few)
 * and those this page gives.
 */
import {
  AckPolicy,
  type ConsumerInfo,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { type Accessor, createSignal } from "solid-js";
import {
  applyPatch,
  type DocSnapshot,
  type DocumentEvent,
  DocumentEvents,
  unapplyPatch,
  type VersionNameEvent,
  VersionNameEvents,
} from "../../../shared/docs.js";
import { EventRegistry } from "../../../shared/envelope.js";
import { Buckets, docSubjects, Keys, ServiceNames, Streams } from "../../../shared/subjects.js";
import { sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { messageOf } from "../lib/delay.js";
import { consumerName, type MakeReader, type ReaderSlots } from "../lib/stream-reader.js";
import { openView } from "../lib/views.js";

/** Versions a page of history shows. */
export const HISTORY_PAGE = 100;
/** Texts kept every this many versions on a walk, so a later one is a short walk away. */
const CHECKPOINT = 50;

const registry = new EventRegistry<DocumentEvent>(DocumentEvents);
const namesRegistry = new EventRegistry<VersionNameEvent>(VersionNameEvents);

/** How a version came to be. */
export type VersionSource = "user" | "disk" | "revert" | "opened" | "history start";

export interface HistoryVersion {
  seq: number;
  at: string;
  source: VersionSource;
  /** Who made it: the actor of its event ("user" on plus, the account on the hub), "disk". */
  author: string;
  /** The name it was given, if any. */
  name?: string;
  /** Its place in the whole history: 1 is the oldest. */
  number: number;
}

/** A version as read: a patch, or a whole text (the opening, history's base, a snapshot). */
interface Entry {
  seq: number;
  at: string;
  source: VersionSource;
  author: string;
  patch: string | null;
  text?: string;
}

export interface HistoryStore {
  /** The versions read so far, newest first. */
  readonly versions: Accessor<readonly HistoryVersion[]>;
  /** How many versions history holds. */
  readonly total: Accessor<number>;
  /** The first page is being read. */
  readonly loading: Accessor<boolean>;
  readonly problem: Accessor<string | undefined>;
  /** Reads older versions until `count` are there (or all of them). */
  load(count: number): Promise<void>;
  /** The text of version `seq`, one of versions(). */
  textOf(seq: number): string;
  /** Names version `seq` ("" takes its name away); resolves with what went wrong, if anything. */
  nameVersion(seq: number, name: string): Promise<string | undefined>;
  stop(): void;
}

export function createHistoryStore(
  conn: WorkspaceConnection,
  doc: string,
  path: string,
): HistoryStore {
  const subject = docSubjects(conn.wsid, doc).patches;
  const namesSubject = docSubjects(conn.wsid, doc).names;
  /** The name of each named version (the newest VersionNamed for its sequence). */
  const names = new Map<number, string>();
  const [versions, setVersions] = createSignal<readonly HistoryVersion[]>([]);
  const [total, setTotal] = createSignal(0);
  const [loading, setLoading] = createSignal(true);
  const [problem, setProblem] = createSignal<string>();
  const stopping = new AbortController();
  /** Oldest first; always the newest versions, without a gap. */
  let entries: Entry[] = [];
  let reader: Reader | undefined;
  let base: DocSnapshot | undefined;
  /** The first sequence history has (after its base). */
  let floor = 1;
  let complete = false;
  let busy: Promise<void> = Promise.resolve();

  const show = () =>
    setVersions(
      entries
        .map(({ seq, at, source, author }, i) => ({
          seq,
          at,
          source,
          author,
          ...(names.get(seq) && { name: names.get(seq) }),
          number: total() - (entries.length - 1 - i),
        }))
        .reverse(),
    );

  /** Older patches run out: history's base (if compaction left one) is the oldest version. */
  const reachedFloor = () => {
    complete = true;
    if (base)
      entries.unshift({
        seq: base.seq,
        at: base.at,
        source: "history start",
        author: "",
        patch: null,
        text: base.text,
      });
  };

  async function first(): Promise<void> {
    const nc = await conn.ready(stopping.signal);
    if (!nc) return;
    const domain = conn.jsDomain === undefined ? {} : { domain: conn.jsDomain };
    reader = new Reader(
      jetstream(nc, domain),
      await jetstreamManager(nc, { ...domain, checkAPI: false }),
      subject,
      conn.readers,
      conn.makeReader,
    );
    const kv = await openView(nc, Buckets.docSnapshots, conn.jsDomain);
    const snapshot = async (which: "head" | "base") => {
      const e = await kv.get(Keys.docSnapshot(conn.wsid, doc, which));
      return e?.operation === "PUT" && e.length > 0 ? e.json<DocSnapshot>() : undefined;
    };
    const head = await snapshot("head");
    base = await snapshot("base");
    floor = base ? base.seq + 1 : 1;
    const from = head && head.seq >= floor ? head.seq : floor;
    const [before, after] = await Promise.all([reader.count(floor), reader.count(from)]);
    for (const n of await reader.versionNames(namesSubject)) {
      if (n.name) names.set(n.seq, n.name);
      else names.delete(n.seq);
    }
    entries = await reader.read(from, Number.POSITIVE_INFINITY);
    if (head && entries[0]?.seq === head.seq) entries[0].text = head.text;
    setTotal(before - after + entries.length + (base ? 1 : 0));
    if (from === floor) reachedFloor();
    await older(HISTORY_PAGE);
  }

  /** Reads pages before the oldest read until `count` versions are there. */
  async function older(count: number): Promise<void> {
    while (!complete && entries.length < count && reader && !stopping.signal.aborted) {
      const oldest = entries[0]?.seq ?? floor;
      const from = await reader.pageStart(floor, oldest);
      entries = [...(await reader.read(from, oldest)), ...entries];
      if (from === floor) reachedFloor();
    }
    show();
  }

  busy = first()
    .catch((err: unknown) => {
      if (!stopping.signal.aborted) setProblem(messageOf(err));
    })
    .finally(() => setLoading(false));

  /** The text of entry `i`, from the nearest text known. */
  function textAt(i: number): string {
    let j = i;
    while (j >= 0 && entries[j]!.text === undefined) j--;
    let k = i;
    while (k < entries.length && entries[k]!.text === undefined) k++;
    if (j < 0 && k >= entries.length) throw new Error("history has no text to start from");
    const forward = j >= 0 && (k >= entries.length || i - j <= k - i);
    let text = entries[forward ? j : k]!.text!;
    if (forward) {
      for (let n = j + 1; n <= i; n++) text = step(n, applyPatch(text, entries[n]!.patch!), j);
    } else {
      for (let n = k; n > i; n--) text = step(n - 1, unapplyPatch(text, entries[n]!.patch!), k);
    }
    return text;
  }

  /** Keeps every CHECKPOINT-th text of a walk that started at `from`. */
  function step(n: number, text: string, from: number): string {
    const e = entries[n]!;
    if (e.patch === null) return e.text!;
    if (Math.abs(n - from) % CHECKPOINT === 0) e.text = text;
    return text;
  }

  return {
    versions,
    total,
    loading,
    problem,
    load(count) {
      busy = busy.then(() =>
        older(count).catch((err: unknown) => {
          if (!stopping.signal.aborted) setProblem(messageOf(err));
        }),
      );
      return busy;
    },
    async nameVersion(seq, name) {
      const r = await sendCommand(conn, ServiceNames.docs, "NameVersion", { path, seq, name });
      if (!r.ok) return r.error.message;
      const kept = name.trim();
      if (kept) names.set(seq, kept);
      else names.delete(seq);
      show();
      return undefined;
    },
    textOf(seq) {
      const i = entries.findIndex((e) => e.seq === seq);
      if (i < 0) throw new Error(`version ${seq} has not been read`);
      return textAt(i);
    },
    stop() {
      stopping.abort();
      reader?.close();
    },
  };
}

/** Reads and counts one document's patches with short-lived consumers of the page's own. */
class Reader {
  private readonly open = new Set<string>();
  private closed = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly subject: string,
    private readonly slots?: ReaderSlots,
    private readonly make?: MakeReader,
  ) {}

  /** Hands back the names of consumers that are gone. */
  private readonly names = new Map<string, (gone: boolean) => void>();

  /** A consumer from `from` on, created in one request; its info counts what it would deliver. */
  private async consumer(from: number, subject = this.subject): Promise<ConsumerInfo> {
    const slot = consumerName(this.slots, "hist");
    this.names.set(slot.name, slot.done);
    let info: ConsumerInfo;
    try {
      info = this.make
        ? await this.make({
            stream: Streams.WS_DOCS,
            filter: subject,
            name: slot.name,
            from: { seq: from },
          })
        : await this.jsm.consumers.add(Streams.WS_DOCS, {
            name: slot.name,
            filter_subject: subject,
            ack_policy: AckPolicy.None,
            mem_storage: true,
            num_replicas: 1,
            inactive_threshold: nanos(60_000),
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: from,
          });
    } catch (err) {
      this.names.delete(slot.name);
      slot.done(false);
      throw err;
    }
    this.open.add(info.name);
    if (this.closed) this.release(info.name);
    return info;
  }

  private release(name: string): void {
    this.open.delete(name);
    const done = this.names.get(name);
    this.names.delete(name);
    void this.jsm.consumers.delete(Streams.WS_DOCS, name).then(
      () => done?.(true),
      () => done?.(false),
    );
  }

  /** How many patches have sequence `from` or later. */
  async count(from: number): Promise<number> {
    const info = await this.consumer(from);
    this.release(info.name);
    return info.num_pending;
  }

  /**
   * Where the page before `upTo` starts: between one and two pages of patches before it, or
   * `floor` when fewer are left. Found by interpolation on the counts.
   */
  async pageStart(floor: number, upTo: number): Promise<number> {
    const atEnd = await this.count(upTo);
    const before = async (s: number) => (await this.count(s)) - atEnd;
    let lo = floor;
    let loCount = await before(floor);
    if (loCount <= 2 * HISTORY_PAGE) return floor;
    let hi = upTo;
    let hiCount = 0;
    for (let probe = 0; probe < 8 && hi - lo > 1; probe++) {
      const share = (1.5 * HISTORY_PAGE - hiCount) / (loCount - hiCount);
      const s = Math.min(hi - 1, Math.max(lo + 1, Math.round(hi - (hi - lo) * share)));
      const n = await before(s);
      if (n >= HISTORY_PAGE && n <= 2 * HISTORY_PAGE) return s;
      if (n < HISTORY_PAGE) [hi, hiCount] = [s, n];
      else [lo, loCount] = [s, n];
    }
    return lo;
  }

  /** The patches with sequence in [from, upTo), oldest first. */
  async read(from: number, upTo: number): Promise<Entry[]> {
    const info = await this.consumer(from);
    const out: Entry[] = [];
    try {
      if (info.num_pending === 0) return out;
      const messages = await this.js.consumers.getConsumerFromInfo(info).consume();
      for await (const m of messages) {
        if (m.seq >= upTo || this.closed) break;
        const ev = registry.parse(m.data);
        const at = new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString();
        const author =
          ev.type === "DocumentPatched" && ev.data.source === "disk" ? "disk" : ev.actor;
        out.push(
          ev.type === "DocumentOpened"
            ? { seq: m.seq, at, source: "opened", author, patch: null, text: ev.data.text }
            : { seq: m.seq, at, source: ev.data.source, author, patch: ev.data.patch },
        );
        if (m.info.pending === 0) break;
      }
      messages.stop();
      return out;
    } finally {
      this.release(info.name);
    }
  }

  /** Every name given to a version, oldest first (names are few: people give them). */
  async versionNames(subject: string): Promise<{ seq: number; name: string }[]> {
    const info = await this.consumer(1, subject);
    const out: { seq: number; name: string }[] = [];
    try {
      if (info.num_pending === 0) return out;
      const messages = await this.js.consumers.getConsumerFromInfo(info).consume();
      for await (const m of messages) {
        if (this.closed) break;
        try {
          const ev = namesRegistry.parse(m.data);
          out.push({ seq: ev.data.seq, name: ev.data.name });
        } catch {
          // An unreadable name is left out; the versions are still there.
        }
        if (m.info.pending === 0) break;
      }
      messages.stop();
      return out;
    } finally {
      this.release(info.name);
    }
  }

  close(): void {
    this.closed = true;
    for (const name of [...this.open]) this.release(name);
  }
}
