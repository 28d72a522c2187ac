/**
 * A headless xterm (@xterm/headless) with the serialize addon: the terminal emulator that
 * mirrors a terminal in the service, and that Node viewers (tests, benchmarks) replay into.
 * Snapshots are taken exactly between two writes, so a snapshot plus the output after it
 * gives the same screen as all the output from the start.
 */
import { deflateSync, inflateSync } from "node:zlib";
import * as serializeModule from "@xterm/addon-serialize";
import * as headlessModule from "@xterm/headless";
import {
  decodeSnapshot,
  encodeSnapshot,
  type SnapshotHeader,
  TERM_MAX_SNAPSHOT,
  TERM_SCROLLBACK,
} from "../../shared/terminals.js";

// Both packages are CommonJS bundles; Node's ESM loader exposes their exports on `default`
// (headless) or by name (serialize), a bundler by name. Take whichever is there.
type HeadlessModule = typeof import("@xterm/headless");
type SerializeModule = typeof import("@xterm/addon-serialize");
const headless = (
  "Terminal" in headlessModule ? headlessModule : Reflect.get(headlessModule, "default")
) as HeadlessModule;
const serialize = (
  "SerializeAddon" in serializeModule ? serializeModule : Reflect.get(serializeModule, "default")
) as SerializeModule;

const EMPTY = new Uint8Array(0);

export class HeadlessScreen {
  readonly term: InstanceType<HeadlessModule["Terminal"]>;
  private readonly serializer: InstanceType<SerializeModule["SerializeAddon"]>;
  /** Bytes written whose parsing has not finished. */
  pending = 0;

  constructor(cols: number, rows: number, scrollback = TERM_SCROLLBACK) {
    this.term = new headless.Terminal({ cols, rows, scrollback, allowProposedApi: true });
    this.serializer = new serialize.SerializeAddon();
    this.term.loadAddon(this.serializer);
  }

  get cols(): number {
    return this.term.cols;
  }

  get rows(): number {
    return this.term.rows;
  }

  /** Queues bytes; `done` runs right after they are parsed, before anything written later. */
  write(data: Uint8Array | string, done?: () => void): void {
    const n = data.length;
    this.pending += n;
    this.term.write(data, () => {
      this.pending -= n;
      done?.();
    });
  }

  /** Resolves when everything written so far is parsed. */
  idle(): Promise<void> {
    return new Promise((resolve) => this.term.write(EMPTY, resolve));
  }

  /** Resizes after everything written so far (a resize is not queued like a write). */
  async resize(cols: number, rows: number): Promise<void> {
    await this.idle();
    if (cols !== this.term.cols || rows !== this.term.rows) this.term.resize(cols, rows);
  }

  /** The screen and scrollback as escape sequences that rebuild it (synchronous: exact). */
  serialize(scrollback = TERM_SCROLLBACK): string {
    return this.serializer.serialize({ scrollback });
  }

  /**
   * A snapshot value of the screen right now, compressed and at most TERM_MAX_SNAPSHOT bytes
   * (the oldest scrollback is dropped until it fits). Call it between writes (e.g. in a write
   * callback) so that it matches `meta.seq` exactly.
   */
  snapshot(meta: Omit<SnapshotHeader, "v" | "cols" | "rows" | "encoding">): Uint8Array {
    let lines = TERM_SCROLLBACK;
    for (;;) {
      const data = deflateSync(Buffer.from(this.serialize(lines)), { level: 1 });
      const value = encodeSnapshot(
        { v: 1, ...meta, cols: this.cols, rows: this.rows, encoding: "deflate" },
        data,
      );
      if (value.length <= TERM_MAX_SNAPSHOT || lines === 0) return value;
      lines = Math.floor(lines / 2);
    }
  }

  /** Replaces the screen with a snapshot's; resolves with its header once it is parsed. */
  async restore(value: Uint8Array): Promise<SnapshotHeader> {
    const { header, data } = decodeSnapshot(value);
    const text = header.encoding === "deflate" ? inflateSync(data) : Buffer.from(data);
    this.term.reset();
    this.term.resize(header.cols, header.rows);
    await new Promise<void>((resolve) => this.write(text, resolve));
    return header;
  }

  dispose(): void {
    this.term.dispose();
  }
}
