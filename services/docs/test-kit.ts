/**
 * A document client in Node that works the way the browser's does: OpenDocument, then the
 * newest snapshot plus the stream after it, patches sent as PatchDocument commands. Used by
 * the integration tests and the benchmarks.
 */
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { randomId } from "../../shared/base64url.js";
import { isCommandAnswer, requestReply } from "../../shared/command-client.js";
import type { CommandReply } from "../../shared/commands.js";
import {
  DocClient,
  type DocSnapshot,
  DocSync,
  type DocumentEvent,
  type OpenDocumentResult,
  type SendResult,
} from "../../shared/docs.js";
import {
  Buckets,
  docSubjects,
  Keys,
  ServiceNames,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { docsRegistry } from "./service.js";

type Reply = CommandReply & { result?: OpenDocumentResult };

/** Sends a docs command; never throws (a timeout is ERR_COMMAND_TIMEOUT). */
export async function docsCommand(
  nc: NatsConnection,
  wsid: string,
  type: string,
  data: unknown,
  timeoutMs = 10_000,
): Promise<Reply> {
  try {
    return await requestReply(
      nc,
      workspaceSubjects(wsid).command(ServiceNames.docs),
      { type, data },
      { timeoutMs, isAnswer: isCommandAnswer },
    );
  } catch (err) {
    return { ok: false, error: { code: "ERR_COMMAND_TIMEOUT", message: String(err) } };
  }
}

export class NodeDoc {
  readonly sync: DocSync;
  private stopped = false;
  private readonly done: Promise<void>;
  private stopFollow: () => void = () => undefined;
  /** Called with the sequence of every patch applied (for latency measurements). */
  onPatch: (seq: number, client: string | undefined) => void = () => undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly wsid: string,
    readonly path: string,
    readonly doc: string,
    client: DocClient,
    fromSeq: number,
    sendTimeoutMs: number,
  ) {
    this.sync = new DocSync(client, path, async (p): Promise<SendResult> => {
      const r = await docsCommand(nc, wsid, "PatchDocument", p, sendTimeoutMs);
      return r.ok ? { ok: true } : { ok: false, code: r.error.code, message: r.error.message };
    });
    this.done = this.follow(fromSeq);
  }

  /** Opens `path` as client `clientId`. */
  static async open(
    nc: NatsConnection,
    wsid: string,
    path: string,
    opts: { clientId?: string; sendTimeoutMs?: number } = {},
  ): Promise<NodeDoc> {
    const r = await docsCommand(nc, wsid, "OpenDocument", { path });
    if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
    const doc = r.result!.doc;
    const kv = await new Kvm(nc).open(Buckets.docSnapshots);
    const e = await kv.get(Keys.docSnapshot(wsid, doc, "head"));
    const snap = e?.operation === "PUT" && e.length > 0 ? e.json<DocSnapshot>() : undefined;
    const client = new DocClient(
      opts.clientId ?? `n${randomId().slice(0, 10)}`,
      snap?.text ?? "",
      snap?.seq ?? 0,
    );
    return new NodeDoc(
      nc,
      wsid,
      path,
      doc,
      client,
      snap ? snap.seq + 1 : 1,
      opts.sendTimeoutMs ?? 10_000,
    );
  }

  get text(): string {
    return this.sync.client.local;
  }

  get seq(): number {
    return this.sync.client.seq;
  }

  /** A local edit, sent at once. */
  edit(fn: (text: string) => string): Promise<void> {
    this.sync.edit(fn(this.text));
    return this.sync.flush();
  }

  private async follow(from: number): Promise<void> {
    const js = jetstream(this.nc);
    const consumer = await js.consumers.get(Streams.WS_DOCS, {
      filter_subjects: docSubjects(this.wsid, this.doc).patches,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
    });
    const messages = await consumer.consume();
    this.stopFollow = () => messages.stop();
    if (this.stopped) messages.stop();
    for await (const m of messages) {
      const event = docsRegistry.parse(m.data) as DocumentEvent;
      if (event.type === "DocumentOpened") {
        this.sync.client.reset(event.data.text, m.seq);
      } else {
        this.sync.receive({
          seq: m.seq,
          patch: event.data.patch,
          ...(event.data.client !== undefined && { client: event.data.client }),
          ...(event.data.pid !== undefined && { pid: event.data.pid }),
        });
      }
      this.onPatch(m.seq, event.type === "DocumentPatched" ? event.data.client : undefined);
    }
  }

  /** Waits until everything typed is stored and applied, sending again what got no answer. */
  async settled(ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.sync.synced) {
      if (Date.now() > deadline) throw new Error(`document ${this.path} did not settle`);
      await this.sync.flush();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopFollow();
    await this.done.catch(() => undefined);
  }
}
