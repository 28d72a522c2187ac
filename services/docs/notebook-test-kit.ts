/**
 * A notebook client in Node that works the way the browser's does: OpenNotebook, then the
 * notebook's stream from its start folded by NotebookSync; cell patches as PatchCell and
 * structure changes as ChangeNotebook. Used by the integration tests.
 */
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { randomId } from "../../shared/base64url.js";
import type { DocSnapshot } from "../../shared/docs.js";
import type { Notebook } from "../../shared/notebook.js";
import type { NotebookChange, OpenNotebookResult } from "../../shared/notebook-doc.js";
import { NotebookPartJoiner } from "../../shared/notebook-parts.js";
import { NotebookSync } from "../../shared/notebook-sync.js";
import { Buckets, docSubjects, Keys, Streams } from "../../shared/subjects.js";
import { notebookRegistry } from "./notebooks.js";
import { docsCommand } from "./test-kit.js";

export class NodeNotebook {
  readonly sync: NotebookSync;
  /** The snapshot's sequence this client started from (0: the stream's start). */
  fromSnapshot = 0;
  private stopFollow: () => void = () => undefined;
  private stopped = false;
  private readonly done: Promise<void>;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly wsid: string,
    readonly path: string,
    readonly doc: string,
    clientId: string,
  ) {
    this.sync = new NotebookSync(
      clientId,
      path,
      {
        patch: async (p) => {
          const r = await docsCommand(nc, wsid, "PatchCell", p);
          return r.ok ? { ok: true } : { ok: false, code: r.error.code, message: r.error.message };
        },
        change: async (c) => {
          const r = await docsCommand(nc, wsid, "ChangeNotebook", c);
          return r.ok
            ? { ok: true, seqs: r.seqs }
            : { ok: false, code: r.error.code, message: r.error.message };
        },
      },
      { structure: () => undefined, text: () => undefined },
    );
    this.done = this.follow();
  }

  /** Opens `path`; throws with the reply's code when it is refused or not a notebook. */
  static async open(
    nc: NatsConnection,
    wsid: string,
    path: string,
    clientId = `n${randomId().slice(0, 10)}`,
  ): Promise<NodeNotebook> {
    const r = await docsCommand(nc, wsid, "OpenNotebook", { path });
    if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
    const result = r.result as OpenNotebookResult;
    if (result.invalid) throw new Error(`invalid: ${result.invalid.message}`);
    if (result.refused) throw new Error(`refused: ${result.refused}`);
    return new NodeNotebook(nc, wsid, path, result.doc, clientId);
  }

  private async follow(): Promise<void> {
    // As a page opens it: the newest snapshot, then the events after it.
    const kv = await new Kvm(this.nc).open(Buckets.docSnapshots);
    const e = await kv.get(Keys.docSnapshot(this.wsid, this.doc, "head"));
    const snap = e?.operation === "PUT" && e.length > 0 ? e.json<DocSnapshot>() : undefined;
    if (snap) {
      this.fromSnapshot = snap.seq;
      this.sync.load({ path: this.path, nb: JSON.parse(snap.text) as Notebook }, snap.seq);
    }
    const consumer = await jetstream(this.nc).consumers.get(Streams.WS_DOCS, {
      filter_subjects: docSubjects(this.wsid, this.doc).patches,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: (snap?.seq ?? 0) + 1,
    });
    const messages = await consumer.consume();
    this.stopFollow = () => messages.stop();
    if (this.stopped) messages.stop();
    const joiner = new NotebookPartJoiner();
    for await (const m of messages) {
      const event = joiner.push(notebookRegistry.parse(m.data));
      if (event) this.sync.receive(event, m.seq);
    }
  }

  /** Cell ids in order. */
  get ids(): string[] {
    return this.sync.cellList.map((c) => c.id);
  }

  text(id: string): string {
    return this.sync.text(id);
  }

  /** A local edit of one cell, sent at once. */
  edit(id: string, fn: (text: string) => string): Promise<void> {
    this.sync.edit(id, fn(this.sync.text(id)));
    return this.sync.flush(id);
  }

  /** A structure change; throws with the refusal's code. */
  async change(change: NotebookChange): Promise<number[]> {
    const r = await this.sync.change(change);
    if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
    return r.seqs ?? [];
  }

  /** Waits until everything typed is stored and applied. */
  async settled(ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.sync.synced) {
      if (Date.now() > deadline) throw new Error(`notebook ${this.path} did not settle`);
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
