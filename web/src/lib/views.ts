/** Opening views (KV buckets) the way the browser's NATS user may read them. */
import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";

/**
 * Opens view `bucket`. Gets go by subject (`$JS.API.DIRECT.GET.<stream>.<subject>`): the
 * browser's user may read only keys of its workspace, which a get with the key in its body
 * (what nats.js does for a bucket it binds to without `allow_direct`) cannot show.
 */
export function openView(nc: NatsConnection, bucket: string, domain?: string): Promise<KV> {
  const kvm = domain === undefined ? new Kvm(nc) : new Kvm(jetstream(nc, { domain }));
  return kvm.open(bucket, { allow_direct: true });
}
