/**
 * Reverting what an ended turn wrote, from the contents its log recorded: one file, or every
 * file of the turn. A file changed since the turn wrote it is not put back (for a whole turn:
 * nothing is, unless forced); the revert is recorded on the thread.
 */
import { readFile, rm } from "node:fs/promises";
import type { KV } from "@nats-io/kv";
import { turnEnded, turnIdentifiers } from "../../shared/agents.js";
import { CocalcError } from "../../shared/errors.js";
import { PathResolver } from "../runtime/paths.js";
import type { ServiceContext } from "../runtime/service.js";
import { lastSubjectSeq, readSubject } from "../runtime/stream-read.js";
import { replaceText } from "./acp-client.js";
import type { AgentPlace } from "./place.js";
import { readTurnView } from "./projections.js";
import type { ServiceThreads } from "./threads.js";
import { turnLogRegistry } from "./turn-log.js";

export interface TurnRevertsDeps {
  ctx: ServiceContext;
  turns: KV;
  place: AgentPlace;
  home: string;
  threads: ServiceThreads;
}

interface TurnWrite {
  path: string;
  before: string | null;
  after: string;
  truncated: boolean;
  /** The turn's last word on it was deleting it. */
  deleted?: boolean;
}

export class TurnReverts {
  constructor(private readonly d: TurnRevertsDeps) {}

  /** Puts back one file the turn wrote; refused when it changed since. */
  async revertFile(thread: string, turn: string, path: string): Promise<void> {
    const writes = await this.turnWrites(thread, turn);
    const file = writes.find((w) => w.path === path);
    if (!file) throw new CocalcError("ERR_AGENT_REQUEST", `turn ${turn} did not write ${path}`);
    refuseCut([file]);
    if (await this.changedSince(file)) {
      throw new CocalcError(
        "ERR_COMMAND_REJECTED",
        `${path} changed after the turn wrote it; not reverted`,
      );
    }
    await this.putBack(file);
    await this.recordRevert(thread, turn, [file.path], false);
  }

  /** Puts back every file the turn wrote; returns their paths, newest write first. */
  async revertTurn(thread: string, turn: string, force: boolean | undefined): Promise<string[]> {
    // Newest write first: a file written later may depend on one written before it.
    const writes = (await this.turnWrites(thread, turn)).reverse();
    if (writes.length === 0) {
      throw new CocalcError("ERR_AGENT_REQUEST", `turn ${turn} wrote no files`);
    }
    refuseCut(writes);
    const changed: string[] = [];
    for (const w of writes) if (await this.changedSince(w)) changed.push(w.path);
    if (changed.length > 0 && !force) {
      throw new CocalcError(
        "ERR_AGENT_REVERT_CONFLICT",
        `${changed.length === 1 ? "1 file" : `${changed.length} files`} changed after the turn wrote ${changed.length === 1 ? "it" : "them"} (${changed.join(", ")}); nothing was reverted`,
      );
    }
    for (const w of writes) await this.putBack(w);
    const paths = writes.map((w) => w.path);
    await this.recordRevert(thread, turn, paths, changed.length > 0);
    return paths;
  }

  /**
   * What an ended turn wrote, one entry per file in the order of its last write: the content
   * before the turn's first write and after its last (or marked cut short: not revertable).
   */
  private async turnWrites(thread: string, turn: string): Promise<TurnWrite[]> {
    const { ctx } = this.d;
    const ids = turnIdentifiers(ctx.wsid, thread, turn);
    const view = await readTurnView(this.d.turns, ids.key);
    if (!view) {
      throw new CocalcError("ERR_AGENT_TURN_NOT_FOUND", `no turn ${turn} in thread ${thread}`);
    }
    if (!turnEnded(view.status)) {
      throw new CocalcError(
        "ERR_AGENT_REQUEST",
        `turn ${turn} has not ended; it cannot be reverted yet`,
      );
    }
    const last = await lastSubjectSeq(ctx.jsm, ids.logStream, ids.logSubject);
    const events = await readSubject(
      ctx.js,
      turnLogRegistry,
      ids.logStream,
      ids.logSubject,
      0,
      last,
    );
    const files = new Map<string, TurnWrite>();
    for (const { event: e } of events) {
      if (e.type !== "FileWritten") continue;
      const prior = files.get(e.data.path);
      if (e.data.truncated || prior?.truncated) {
        files.delete(e.data.path);
        files.set(e.data.path, { path: e.data.path, before: null, after: "", truncated: true });
        continue;
      }
      files.delete(e.data.path);
      const before = prior ? prior.before : e.data.before;
      // Created and deleted again within the turn: nothing to put back.
      if (e.data.deleted && before === null) continue;
      files.set(e.data.path, {
        path: e.data.path,
        before,
        after: e.data.after,
        truncated: false,
        ...(e.data.deleted && { deleted: true }),
      });
    }
    return [...files.values()];
  }

  private async changedSince(w: TurnWrite): Promise<boolean> {
    // A container workspace's files are read through its fs service, as its user.
    const files = this.d.place.files;
    const now = await (files ? files.readIfExists(w.path) : readFile(w.path, "utf8")).catch(
      () => null,
    );
    return w.deleted ? now !== null : now !== w.after;
  }

  /** Puts a file back as it was before the turn wrote it. */
  private async putBack(w: TurnWrite): Promise<void> {
    const files = this.d.place.files;
    if (files) {
      if (w.before === null) await files.remove(w.path);
      else await files.write(w.path, w.before);
    } else if (w.before === null) await rm(w.path, { force: true });
    else await replaceText(await PathResolver.create({ home: this.d.home }), w.path, w.before);
  }

  private async recordRevert(thread: string, turn: string, paths: string[], forced: boolean) {
    const { ctx } = this.d;
    const view = await readTurnView(this.d.turns, turnIdentifiers(ctx.wsid, thread, turn).key);
    if (!view?.room) return;
    await this.d.threads.execute(view.room, thread, "RecordRevert", { turn, paths, forced });
  }
}

function refuseCut(writes: TurnWrite[]): void {
  const cut = writes.filter((w) => w.truncated).map((w) => w.path);
  if (cut.length > 0) {
    throw new CocalcError(
      "ERR_AGENT_REQUEST",
      `${cut.join(", ")} ${cut.length === 1 ? "is" : "are"} too large to revert from the log; nothing was reverted`,
    );
  }
}
