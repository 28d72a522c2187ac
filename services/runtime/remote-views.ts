/**
 * Reading a KV view of another JetStream domain (a joined host's, from its control plane)
 * with requests only: the stream's subjects, then each key's last message. A KV watch or key
 * listing would need a consumer that delivers to the reader's inbox, which a host's leaf
 * account cannot reach (services/hub/leaf-accounts.ts).
 */
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

/** A JetStream manager for `domain`, with a short timeout (a host that is away is skipped). */
export function domainManager(
  nc: NatsConnection,
  domain: string,
  timeoutMs = 5000,
): Promise<JetStreamManager> {
  return jetstreamManager(nc, { domain, timeout: timeoutMs, checkAPI: false });
}

/**
 * The keys `bucket` has held (deleted ones too: their values say so), from its stream's
 * subjects in one request. Unlike a key listing by consumer, it ends however fast the bucket
 * is written meanwhile (a listing must catch up with the writes before it ends).
 */
export async function viewKeys(jsm: JetStreamManager, bucket: string): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
  return Object.keys(info.state.subjects ?? {})
    .sort()
    .map((s) => s.slice(prefix.length));
}

/** The current values of `bucket` (deleted keys left out), parsed as JSON. */
export async function viewValues<T>(jsm: JetStreamManager, bucket: string): Promise<T[]> {
  const stream = `KV_${bucket}`;
  const info = await jsm.streams.info(stream, { subjects_filter: `$KV.${bucket}.>` });
  const out: T[] = [];
  for (const subject of Object.keys(info.state.subjects ?? {}).sort()) {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    if (!m || m.data.length === 0 || m.header?.get("KV-Operation")) continue;
    out.push(m.json<T>());
  }
  return out;
}

/** The value of `key` in `bucket`, or undefined when it is missing or deleted. */
export async function viewValue<T>(
  jsm: JetStreamManager,
  bucket: string,
  key: string,
): Promise<T | undefined> {
  const m = await jsm.streams.getMessage(`KV_${bucket}`, { last_by_subj: `$KV.${bucket}.${key}` });
  if (!m || m.data.length === 0 || m.header?.get("KV-Operation")) return undefined;
  return m.json<T>();
}
