import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { allStreams, type StreamDefinition } from "./definitions.js";

/** What ensureStreams did to one stream. */
export interface EnsureResult {
  name: string;
  action: "created" | "updated" | "unchanged";
  changed: string[];
}

function toConfig(d: StreamDefinition): Partial<StreamConfig> & { name: string } {
  return {
    name: d.name,
    subjects: [...d.subjects],
    description: d.description,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: 1,
    max_age: nanos(d.maxAgeMs),
    max_msgs_per_subject: d.maxMsgsPerSubject,
    max_msg_size: d.maxMsgSize,
    duplicate_window: nanos(d.duplicateWindowMs),
    discard: d.discard === "new" ? DiscardPolicy.New : DiscardPolicy.Old,
    allow_rollup_hdrs: d.allowRollup,
    deny_delete: d.denyDelete,
    allow_direct: d.allowDirect,
  };
}

const COMPARED = [
  "subjects",
  "description",
  "max_age",
  "max_msgs_per_subject",
  "max_msg_size",
  "duplicate_window",
  "discard",
  "allow_rollup_hdrs",
  "deny_delete",
  "allow_direct",
] as const;

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/**
 * Creates every stream and KV bucket that is missing and updates those whose configuration
 * differs from streams/definitions.ts. Idempotent: a second call changes nothing.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  definitions: readonly StreamDefinition[] = allStreams(),
): Promise<EnsureResult[]> {
  // Independent streams: ask about all of them at once. A stream that takes over subjects of
  // another (WS_TERM_LIFE those of WS_TERM) is refused until that one has given them up: it
  // is made once the others are done.
  const first = await Promise.allSettled(definitions.map((d) => ensureStream(jsm, d)));
  const results: EnsureResult[] = [];
  for (const [i, r] of first.entries()) {
    if (r.status === "fulfilled") results.push(r.value);
    else if (isOverlap(r.reason)) results.push(await ensureStream(jsm, definitions[i]!));
    else throw r.reason;
  }
  return results;
}

/** nats-server's answer to a stream whose subjects another stream has. */
const SUBJECTS_OVERLAP = 10065;

function isOverlap(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === SUBJECTS_OVERLAP;
}

async function ensureStream(jsm: JetStreamManager, d: StreamDefinition): Promise<EnsureResult> {
  const want = toConfig(d);
  // One round trip in the common cases: nats-server creates a missing stream, and answers an
  // add of an existing one with the same configuration with that stream. A different
  // configuration is refused, and is then compared and updated below.
  try {
    const asked = Date.now();
    const info = await jsm.streams.add(want);
    // Made by this add when made after it was asked (one clock: only the label depends on it).
    const fresh = Date.parse(info.created) >= asked;
    return { name: d.name, action: fresh ? "created" : "unchanged", changed: [] };
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
  }
  let have: StreamConfig | undefined;
  try {
    have = (await jsm.streams.info(d.name)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound))
      throw err;
  }
  if (!have) {
    await jsm.streams.add(want);
    return { name: d.name, action: "created", changed: [] };
  }
  if (have.storage !== want.storage || have.retention !== want.retention) {
    throw new Error(
      `stream ${d.name} has storage ${have.storage}/${have.retention}; the definition wants ${want.storage}/${want.retention}, which cannot be changed in place`,
    );
  }
  const changed = COMPARED.filter((k) => !same(have[k], want[k]));
  if (changed.length === 0) return { name: d.name, action: "unchanged", changed };
  await jsm.streams.update(d.name, { ...have, ...want });
  return { name: d.name, action: "updated", changed: [...changed] };
}
