/**
 * Terminal output throughput: a fixed 32 MiB `ls -lR`-style capture is `cat` in a terminal
 * of a real cocalc-plus (pty host → terminals service → WS_TERM → a viewer replaying into
 * @xterm/headless, connected as the browser user) against the anchor: node-pty running the
 * same `cat` straight into @xterm/headless in one process. Then the time to attach to a
 * terminal with 10,000 lines of scrollback (snapshot + tail).
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { type NatsConnection, usernamePasswordAuthenticator } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { spawn as spawnPty } from "node-pty";
import { freePort } from "../../services/runtime/ports.js";
import { HeadlessScreen } from "../../services/terminals/screen.js";
import {
  NodeViewer,
  terminalCommand,
  terminalView,
  typeInto,
} from "../../services/terminals/test-kit.js";
import { BrowserInbox } from "../../shared/browser-permissions.js";
import { Buckets, Keys, Streams, terminalSubjects } from "../../shared/subjects.js";
import { decodeSnapshot, newTerminalId } from "../../shared/terminals.js";
import { spawnServer, stopServer, waitForHttp200 } from "./proc.js";
import { median, num, sleep, yesNo } from "./stats.js";

const CAPTURE_BYTES = 32 * 1024 * 1024;
const RATIO_TARGET = 0.7;
const ATTACH_TARGET_MS = 150;
const COLS = 120;
const ROWS = 40;
const PLUS_CLI = fileURLToPath(new URL("../../bundle/plus.js", import.meta.url));
/** Printed by the shell after the capture; typed as `$((6*7))` so the echoed command differs. */
const MARKER = "__TERM_BENCH_END_42__";
const MARKER_CMD = "printf '%s\\n' __TERM_BENCH_END_$((6*7))__";

/** A deterministic `ls -lR`-like listing (with ls --color's escapes) of exactly `bytes` bytes. */
function capture(bytes: number): Buffer {
  const parts: string[] = [];
  let size = 0;
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov"];
  for (let dir = 0; size < bytes; dir++) {
    const head = `\n./src/module-${dir}/lib:\ntotal ${rnd(9000)}\n`;
    parts.push(head);
    size += head.length;
    for (let i = 0; i < 40 && size < bytes; i++) {
      const isDir = rnd(5) === 0;
      const name = `${isDir ? "dir" : "file"}_${dir}_${i}${isDir ? "" : ".ts"}`;
      const shown = isDir ? `\x1b[01;34m${name}\x1b[0m` : name;
      const line = `${isDir ? "drwxr-xr-x" : "-rw-r--r--"} ${1 + rnd(3)} user staff ${String(rnd(999999)).padStart(7)} ${months[rnd(11)]} ${String(1 + rnd(28)).padStart(2)} ${String(rnd(24)).padStart(2, "0")}:${String(rnd(60)).padStart(2, "0")} ${shown}\n`;
      parts.push(line);
      size += line.length;
    }
  }
  return Buffer.from(parts.join("")).subarray(0, bytes);
}

/** Resolves when `screen` has parsed output containing MARKER (found across chunk edges). */
function watchMarker(screen: HeadlessScreen): Promise<void> {
  const write = screen.write.bind(screen);
  let tail = "";
  return new Promise((resolve) => {
    screen.write = (data, done) => {
      const text = typeof data === "string" ? data : Buffer.from(data).toString("latin1");
      const seen = (tail + text).includes(MARKER);
      tail = text.slice(-MARKER.length);
      write(data, () => {
        done?.();
        if (seen) {
          screen.write = write;
          resolve();
        }
      });
    };
  });
}

/** node-pty → @xterm/headless in this process: the anchor. */
async function anchorRun(file: string): Promise<{ seconds: number; bytes: number }> {
  const screen = new HeadlessScreen(COLS, ROWS);
  const t0 = performance.now();
  const pty = spawnPty("/bin/bash", ["-c", `cat ${file}; ${MARKER_CMD}; sleep 0.2`], {
    name: "xterm-256color",
    cols: COLS,
    rows: ROWS,
    env: process.env as Record<string, string>,
    encoding: null,
  });
  let bytes = 0;
  const marked = watchMarker(screen);
  pty.onData((d) => {
    const data = d as unknown as Buffer;
    bytes += data.length;
    screen.write(data);
  });
  await marked;
  const seconds = (performance.now() - t0) / 1000;
  await new Promise<void>((r) => pty.onExit(() => r()));
  screen.dispose();
  return { seconds, bytes };
}

/** The same `cat` typed into a plus terminal, measured until a viewer has parsed the end. */
async function oursRun(
  nc: NatsConnection,
  wsid: string,
  tid: string,
  file: string,
): Promise<{ seconds: number; bytes: number }> {
  const viewer = new NodeViewer(nc, wsid, tid);
  const at = await viewer.attach();
  const marked = watchMarker(viewer.screen);
  const t0 = performance.now();
  typeInto(nc, wsid, tid, `cat ${file}; ${MARKER_CMD}\r`);
  await marked;
  const seconds = (performance.now() - t0) / 1000;
  const bytes = await outputSince(nc, wsid, tid, at.offset);
  await viewer.stop();
  return { seconds, bytes };
}

/** Output bytes stored after `offset` (the end offset of the last chunk minus the start). */
async function outputSince(
  nc: NatsConnection,
  wsid: string,
  tid: string,
  offset: number,
): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const m = await jsm.streams.getMessage(Streams.WS_TERM, {
    last_by_subj: terminalSubjects(wsid, tid).out,
  });
  const end = Number(m?.header?.get("Term-Offset") ?? 0) + (m?.data.length ?? 0);
  return end - offset;
}

export async function termBench(): Promise<string> {
  const quick = process.env.BENCH_QUICK === "1";
  const runs = quick ? 2 : 3;
  const dir = await mkdtemp(join(tmpdir(), "cocalc-bench-term-"));
  const file = join(dir, "capture.txt");
  await writeFile(file, capture(CAPTURE_BYTES));
  const home = join(dir, "home");
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
  };
  const dataDir = join(dir, "data");
  const port = await freePort();
  const plus = spawnServer(
    process.execPath,
    [PLUS_CLI, "--no-open", "--port", String(port), "--data-dir", dataDir],
    env,
  );
  let nc: NatsConnection | undefined;
  try {
    await waitForHttp200(`http://127.0.0.1:${port}/healthz`, plus);
    const run = JSON.parse(readFileSync(join(dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    const secrets = JSON.parse(readFileSync(join(dataDir, "secrets.json"), "utf8")) as {
      browserPassword: string;
    };
    // The viewer connects as the browser does: the restricted browser user.
    nc = await connect({
      servers: run.natsUrl,
      authenticator: usernamePasswordAuthenticator("browser", secrets.browserPassword),
      inboxPrefix: BrowserInbox,
    });
    const wsid = run.wsid;
    const tid = newTerminalId();
    const opened = await terminalCommand(nc, wsid, "OpenTerminal", {
      tid,
      cols: COLS,
      rows: ROWS,
    });
    if (!opened.ok) throw new Error(`OpenTerminal: ${opened.error.message}`);
    for (let i = 0; i < 400 && (await terminalView(nc, wsid, tid))?.status !== "running"; i++) {
      await sleep(25);
    }

    console.log(
      `term: ${CAPTURE_BYTES / 2 ** 20} MiB ls -lR-style capture via cat, ${COLS}x${ROWS}, ${runs} alternating runs per side`,
    );
    const anchor: number[] = [];
    const ours: number[] = [];
    // Warm-up for both sides (page cache, JIT, the service's first snapshots).
    await anchorRun(file);
    await oursRun(nc, wsid, tid, file);
    for (let i = 0; i < runs; i++) {
      const a = await anchorRun(file);
      const o = await oursRun(nc, wsid, tid, file);
      anchor.push(a.bytes / 1e6 / a.seconds);
      ours.push(o.bytes / 1e6 / o.seconds);
      console.log(
        `  run ${i + 1}: anchor node-pty→headless ${num(anchor.at(-1)!, 1)} MB/s (${num(a.seconds, 2)} s, ${a.bytes} B), ours pty→NATS→headless ${num(ours.at(-1)!, 1)} MB/s (${num(o.seconds, 2)} s, ${o.bytes} B)`,
      );
    }
    const ratio = median(ours) / median(anchor);

    // Attach: the terminal now has a full scrollback; wait for the snapshot after the output.
    const kv = await new Kvm(nc).open(Buckets.termSnapshots, { allow_direct: true });
    const jsm = await jetstreamManager(nc);
    const out = terminalSubjects(wsid, tid).out;
    let lines = 0;
    let snapshotBytes = 0;
    for (let i = 0; i < 400; i++) {
      const last = (await jsm.streams.getMessage(Streams.WS_TERM, { last_by_subj: out }))?.seq;
      const e = await kv.get(Keys.terminal(wsid, tid));
      snapshotBytes = e?.length ?? 0;
      if (e && e.operation === "PUT" && decodeSnapshot(e.value).header.seq === last) break;
      await sleep(25);
    }
    const attachMs: number[] = [];
    for (let i = 0; i < (quick ? 5 : 10); i++) {
      const viewer = new NodeViewer(nc, wsid, tid);
      const t0 = performance.now();
      await viewer.attach(false);
      attachMs.push(performance.now() - t0);
      lines = viewer.screen.term.buffer.active.length;
      await viewer.stop();
    }
    const attach = median(attachMs);
    console.log(
      `  median: anchor ${num(median(anchor), 1)} MB/s, ours ${num(median(ours), 1)} MB/s, ratio ${num(ratio, 2)} (target >= ${RATIO_TARGET}: ${yesNo(ratio >= RATIO_TARGET)})`,
    );
    console.log(
      `  attach (snapshot + tail into @xterm/headless, as the browser user): median ${num(attach, 1)} ms over ${attachMs.length}, ${lines} lines, snapshot ${num(snapshotBytes / 1024)} KiB (target <= ${ATTACH_TARGET_MS} ms: ${yesNo(attach <= ATTACH_TARGET_MS)})`,
    );
    await terminalCommand(nc, wsid, "CloseTerminal", { tid });
    return `term: ratio=${num(ratio, 2)} ours_mbps=${num(median(ours), 1)} anchor_mbps=${num(median(anchor), 1)} target_met=${yesNo(ratio >= RATIO_TARGET)} attach_ms=${num(attach, 1)} attach_lines=${lines} snapshot_kib=${num(snapshotBytes / 1024)} attach_target_met=${yesNo(attach <= ATTACH_TARGET_MS)} capture_mib=${CAPTURE_BYTES / 2 ** 20} runs=${runs}`;
  } finally {
    await nc?.close();
    // SIGTERM: plus (in the foreground) ends its terminals and their pty host on the way out.
    await stopServer(plus);
    await rm(dir, { recursive: true, force: true });
  }
}
