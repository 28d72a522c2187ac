/** Reads the editing traces in test/fixtures/editing-traces (github.com/josephg/editing-traces). */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";

/** The repository's root: the nearest directory up from here with a package.json. */
function repoRoot(): string {
  let dir = fileURLToPath(new URL(".", import.meta.url));
  while (!existsSync(join(dir, "package.json")) && join(dir, "..") !== dir) dir = join(dir, "..");
  return dir;
}

/** The traces shipped with the tests, or COCALC_TRACES_DIR. */
export const TRACES_DIR =
  process.env.COCALC_TRACES_DIR ?? join(repoRoot(), "test", "fixtures", "editing-traces");

/** One transaction: patches `[pos, deleted, inserted]` on code points, applied in order. */
export interface TraceTxn {
  patches: [number, number, string][];
  parents?: number[];
  agent?: number;
}

export interface Trace {
  startContent?: string;
  endContent: string;
  txns: TraceTxn[];
  numAgents?: number;
}

/** The trace `name` (without .json.gz), or undefined when the data is not on this machine. */
export function loadTrace(name: string): Trace | undefined {
  const file = join(TRACES_DIR, `${name}.json.gz`);
  if (!existsSync(file)) {
    console.warn(`skipping the ${name} trace: no ${file} (set COCALC_TRACES_DIR)`);
    return undefined;
  }
  return JSON.parse(gunzipSync(readFileSync(file)).toString("utf8")) as Trace;
}

/** True when the trace's text has characters outside the BMP (code points ≠ UTF-16 units). */
export function hasAstral(trace: Trace): boolean {
  return /[\uD800-\uDFFF]/.test(trace.endContent);
}

/** Turns a code-point position in `text` into a UTF-16 offset. */
export function utf16Offset(text: string, pos: number): number {
  let i = 0;
  for (let n = 0; n < pos && i < text.length; n++) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
  }
  return i;
}
