/**
 * The automerge-paper editing trace (259,778 single-character edits) replayed through our
 * patch pipeline (patch made by the author, validated and rebased by the docs service's
 * DocHead, stored patch applied by a reader) against yjs replaying the same trace into a
 * Y.Text in the same process (the crdt-benchmarks B4 method). Then opening the result:
 * ours = newest snapshot + the patches after it (at most DOC_SNAPSHOT_EVERY), yjs = decoding
 * the document's update.
 */
import * as Y from "yjs";
import { applyPatch, DOC_SNAPSHOT_EVERY, DocHead, makePatch } from "../../shared/docs.js";
import { loadTrace, type Trace } from "../helpers/traces.js";
import { median, num, yesNo } from "./stats.js";

const OPEN_TARGET = 2;
const RUNS = 3;

function ours(trace: Trace): { ms: number; text: string; tail: string[]; snapshot: string } {
  const t0 = performance.now();
  const head = new DocHead(trace.startContent ?? "", 0, 1000);
  let reader = trace.startContent ?? "";
  let seq = 0;
  let tail: string[] = [];
  let snapshot = reader;
  for (const txn of trace.txns) {
    for (const [pos, del, ins] of txn.patches) {
      const patch = makePatch(head.text, [{ from: pos, to: pos + del, insert: ins }]);
      const edits = head.rebase(head.head, patch);
      const stored = makePatch(head.text, edits);
      head.apply(++seq, edits);
      reader = applyPatch(reader, stored);
      tail.push(stored);
      if (tail.length === DOC_SNAPSHOT_EVERY) {
        snapshot = reader;
        tail = [];
      }
    }
  }
  return { ms: performance.now() - t0, text: reader, tail, snapshot };
}

function yjs(trace: Trace): { ms: number; text: string; update: Uint8Array } {
  const t0 = performance.now();
  const doc = new Y.Doc();
  const text = doc.getText("text");
  if (trace.startContent) text.insert(0, trace.startContent);
  for (const txn of trace.txns) {
    for (const [pos, del, ins] of txn.patches) {
      if (del > 0) text.delete(pos, del);
      if (ins) text.insert(pos, ins);
    }
  }
  const ms = performance.now() - t0;
  return { ms, text: text.toString(), update: Y.encodeStateAsUpdate(doc) };
}

function time(fn: () => unknown, n: number): number {
  const runs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    runs.push(performance.now() - t0);
  }
  return median(runs);
}

export async function traceBench(): Promise<string> {
  const trace = loadTrace("automerge-paper");
  if (!trace) return "trace: skipped (no editing traces on this machine)";
  const oursRuns: number[] = [];
  const yRuns: number[] = [];
  let o!: ReturnType<typeof ours>;
  let y!: ReturnType<typeof yjs>;
  for (let i = 0; i < RUNS; i++) {
    o = ours(trace);
    y = yjs(trace);
    oursRuns.push(o.ms);
    yRuns.push(y.ms);
  }
  const correct = o.text === trace.endContent && y.text === trace.endContent;
  const openOurs = time(() => {
    let text = JSON.parse(JSON.stringify({ text: o.snapshot })).text as string;
    for (const p of o.tail) text = applyPatch(text, p);
    if (text !== trace.endContent) throw new Error("opened text differs");
  }, 20);
  const openY = time(() => {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, y.update);
    if (doc.getText("text").toString() !== trace.endContent) throw new Error("yjs text differs");
  }, 20);
  const replayRatio = median(oursRuns) / median(yRuns);
  const openRatio = openOurs / openY;
  console.log(
    `trace: automerge-paper ${trace.txns.length} edits: ours ${num(median(oursRuns))} ms, yjs ${num(median(yRuns))} ms (replay ratio ${num(replayRatio, 2)})`,
  );
  console.log(
    `trace: open: ours (snapshot + ${o.tail.length} patches) ${num(openOurs, 2)} ms, yjs (decode ${y.update.length} bytes) ${num(openY, 2)} ms`,
  );
  return `trace: ratio=${num(openRatio, 2)} open_ours_ms=${num(openOurs, 2)} open_yjs_ms=${num(openY, 2)} replay_ratio=${num(replayRatio, 2)} replay_ours_ms=${num(median(oursRuns))} replay_yjs_ms=${num(median(yRuns))} target_met=${yesNo(openRatio <= OPEN_TARGET)} correct=${yesNo(correct)} edits=${trace.txns.length}`;
}
