/** Line diffs for file edits, with diff-match-patch's line mode. */
import DiffMatchPatch from "diff-match-patch";

export interface DiffLine {
  kind: "same" | "add" | "del";
  text: string;
}

const dmp = new DiffMatchPatch();

/** The lines of `after` against `before`, unchanged runs longer than 2*context folded away. */
export function lineDiff(
  before: string,
  after: string,
  context = 3,
): (DiffLine | { kind: "fold"; count: number })[] {
  const { chars1, chars2, lineArray } = dmp.diff_linesToChars_(before, after);
  const diffs = dmp.diff_main(chars1, chars2, false);
  dmp.diff_charsToLines_(diffs, lineArray);
  const lines: DiffLine[] = [];
  for (const [op, text] of diffs) {
    const parts = text.split("\n");
    if (parts.at(-1) === "") parts.pop();
    const kind = op === 0 ? "same" : op === 1 ? "add" : "del";
    for (const p of parts) lines.push({ kind, text: p });
  }
  const out: (DiffLine | { kind: "fold"; count: number })[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i]!.kind !== "same") {
      out.push(lines[i++]!);
      continue;
    }
    let j = i;
    while (j < lines.length && lines[j]!.kind === "same") j++;
    const run = lines.slice(i, j);
    const head = i === 0 ? 0 : context;
    const tail = j === lines.length ? 0 : context;
    if (run.length > head + tail + 1) {
      out.push(
        ...run.slice(0, head),
        { kind: "fold", count: run.length - head - tail },
        ...run.slice(run.length - tail),
      );
    } else out.push(...run);
    i = j;
  }
  return out;
}
