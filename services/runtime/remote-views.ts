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
