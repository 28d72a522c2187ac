import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { headers } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeEvent, envelope } from "../../shared/envelope.js";
import { Buckets, Keys, Streams, terminalSubjects } from "../../shared/subjects.js";
import {
  decodeSnapshot,
  formatInputTag,
  type InputAck,
  newTerminalId,
  TERM_INPUT_HEADER,
  TerminalResized,
  terminalIdForPath,
} from "../../shared/terminals.js";
import { setup, TEST_WSID, type TestNats, until } from "../../test/helpers/nats.js";
import { readMessage } from "../runtime/rejections.js";
import { lastSubjectSeq, readSubjectMessages } from "../runtime/stream-read.js";
import { ptyHostPid, stopPtyHost } from "./host-client.js";
import { terminalRegistry } from "./replay.js";
import {
  NodeViewer,
  startTerminalsWorker,
  terminalCommand,
  terminalView,
  typeInto,
} from "./test-kit.js";

const WORKER = new URL("../../dist/test/helpers/terminals-worker.js", import.meta.url).pathname;
const HOST = new URL("../../dist/services/terminals/pty-host.js", import.meta.url).pathname;

function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

const meta = () => ({ actor: "newer-build", at: new Date() });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

if (!existsSync(WORKER) || !existsSync(HOST))
  console.warn(`terminals service tests skipped: no ${WORKER} or ${HOST} (npm run build)`);

describe.skipIf(!existsSync(WORKER) || !existsSync(HOST))("terminals service", () => {
  let t: TestNats;
  let home: string;
  let dir: string;
  const workers: ChildProcess[] = [];
  const viewers: NodeViewer[] = [];

  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["terminals"] });
    home = await mkdtemp(join(tmpdir(), "cocalc-term-home-"));
    dir = join(home, ".terminals");
    // An empty bucket: a viewer on it replays the whole stream, without any snapshot.
    await new Kvm(t.nc).create("no-snapshots");
  });
  afterAll(async () => {
    for (const v of viewers) await v.stop();
    for (const w of workers) w.kill("SIGKILL");
    await stopPtyHost(dir);
    await t.cleanup();
    await rm(home, { recursive: true, force: true });
  });

  /** The service in its own process; resolves once it runs. */
  async function startWorker(): Promise<ChildProcess> {
    // Not a login PATH: the login shell must bring /usr/local/bin itself.
    const o = { url: t.url, seed: t.seed, wsid: TEST_WSID, dir, home, path: "/usr/bin:/bin" };
    const child = await startTerminalsWorker(WORKER, o);
    workers.push(child);
    return child;
  }

  async function viewer(tid: string, bucket?: string): Promise<NodeViewer> {
    const v = new NodeViewer(t.nc, TEST_WSID, tid, bucket);
    viewers.push(v);
    await v.attach();
    return v;
  }

  async function open(data: Record<string, unknown>) {
    const reply = await terminalCommand(t.nc, TEST_WSID, "OpenTerminal", data);
    expect(reply).toMatchObject({ ok: true });
    return until("shell running", async () => {
      const v = await terminalView(t.nc, TEST_WSID, data.tid as string);
      return v?.status === "running" && v.pid ? v : undefined;
    });
  }

  let worker: ChildProcess;

  it("keeps the shell across kill -9 of the service: same pid, history intact", async () => {
    worker = await startWorker();
    const tid = newTerminalId();
    const opened = await open({ tid, cols: 100, rows: 30 });
    expect(opened).toMatchObject({ cols: 100, rows: 30, generation: 1, viewers: [] });
    const a = await viewer(tid);
    typeInto(t.nc, TEST_WSID, tid, "echo pid=$$; echo marker-$((40+2)); echo path=$PATH\r");
    const pid = Number((await a.waitFor(/^pid=(\d+)$/m))[1]);
    await a.waitFor(/^marker-42$/m);
    expect(pid).toBe(opened.pid);
    // A login shell: the PATH a login gives, although the service ran with /usr/bin:/bin.
    expect((await a.waitFor(/^path=(.*)$/m))[1]!.split(":")).toContain("/usr/local/bin");
    expect(a.screen.cols).toBe(100);

    const hostPid = ptyHostPid(dir)!;
    worker.kill("SIGKILL");
    await new Promise((r) => worker.once("exit", r));
    expect(alive(pid)).toBe(true);
    worker = await startWorker();
    expect(ptyHostPid(dir)).toBe(hostPid);
    typeInto(t.nc, TEST_WSID, tid, "echo pid=$$ again; echo marker-$((40+3))\r");
    await a.waitFor(/^marker-43$/m);
    expect((await a.text()).match(/^pid=(\d+) again$/m)?.[1]).toBe(String(pid));
    expect((await terminalView(t.nc, TEST_WSID, tid))?.pid).toBe(pid);

    // A new viewer after the restart sees the whole history, as does the one that stayed.
    const b = await viewer(tid);
    const text = await b.text();
    expect(text).toMatch(/^marker-42$/m);
    expect(text).toMatch(/^marker-43$/m);
    expect(text).toBe(await a.text());
  });

  it("numbered keystrokes sent while the service is down are taken once it runs, each once and in order", async () => {
    const tid = newTerminalId();
    await open({ tid, cols: 80, rows: 24 });
    const a = await viewer(tid);
    const send = async (stream: string, seq: number, acked: number, text: string) => {
      const h = headers();
      h.set(TERM_INPUT_HEADER, formatInputTag({ stream, seq, acked }));
      const m = await t.nc.request(terminalSubjects(TEST_WSID, tid).input, text, {
        timeout: 5000,
        headers: h,
      });
      return m.json<InputAck>();
    };
    worker.kill("SIGKILL");
    await new Promise((r) => worker.once("exit", r));
    // Nobody listens: the page hears so (no responders) and keeps the keys.
    await expect(send("pageStreamA", 1, 0, "echo numbered-$((3*3))\r")).rejects.toThrow();
    worker = await startWorker();
    const first = await until("the service answers", () =>
      send("pageStreamA", 1, 0, "echo numbered-$((3*3))\r").catch(() => undefined),
    );
    expect(first).toEqual({ ok: true, seq: 1 });
    // Sent again (its answer lost): acknowledged, not written twice.
    expect(await send("pageStreamA", 1, 0, "echo numbered-$((3*3))\r")).toEqual({
      ok: true,
      seq: 1,
    });
    // 2 lost on the way: 3 waits for it.
    expect(await send("pageStreamA", 3, 1, "echo three-$((1+2))\r")).toEqual({
      ok: false,
      expect: 2,
    });
    expect(await send("pageStreamA", 2, 1, "echo two-$((1+1))\r")).toEqual({ ok: true, seq: 2 });
    expect(await send("pageStreamA", 3, 2, "echo three-$((1+2))\r")).toEqual({ ok: true, seq: 3 });
    await a.waitFor(/^three-3$/m);
    const text = await a.text();
    expect(text.match(/^numbered-9$/gm)).toHaveLength(1);
    expect(text.indexOf("\ntwo-2")).toBeLessThan(text.indexOf("\nthree-3"));
    expect(text.match(/^three-3$/gm)).toHaveLength(1);
    // A terminal that does not run: the keys are refused, in words the page shows.
    const h = headers();
    h.set(TERM_INPUT_HEADER, formatInputTag({ stream: "pageStreamB", seq: 1, acked: 0 }));
    const gone = await t.nc.request(terminalSubjects(TEST_WSID, newTerminalId()).input, "x", {
      timeout: 5000,
      headers: h,
    });
    expect(gone.json()).toEqual({ ok: false, gone: true });
  });

  it("three viewers see identical output; snapshot + tail equals the whole stream", async () => {
    const tid = newTerminalId();
    await open({ tid, cols: 90, rows: 20 });
    const first = await viewer(tid);
    typeInto(
      t.nc,
      TEST_WSID,
      tid,
      "for i in $(seq 1 300); do printf '\\033[3%dmline %d \\033[1mbold\\033[0m ü €\\n' $((i%7)) $i; done\r",
    );
    await first.waitFor(/^line 300 bold ü €$/m);
    const second = await viewer(tid);
    // A resize in the middle: replays must apply it at the same place.
    t.nc.publish(`ws.${TEST_WSID}.term.${tid}.resize`, JSON.stringify({ cols: 70, rows: 25 }));
    await until("resized", async () => (await terminalView(t.nc, TEST_WSID, tid))?.cols === 70);
    typeInto(t.nc, TEST_WSID, tid, "printf 'tail \\033[44mblue\\033[0m done\\n'; tput cols\r");
    await first.waitFor(/^tail blue done\n70$/m);
    // Wait for a snapshot after the last output, then attach two more ways.
    const outputSeq = first.seq;
    const snapshots = await new Kvm(t.nc).open(Buckets.termSnapshots, { allow_direct: true });
    await until("a snapshot after the last output", async () => {
      const e = await snapshots.get(Keys.terminal(TEST_WSID, tid));
      return (
        e?.operation === "PUT" && e.length > 0 && decodeSnapshot(e.value).header.seq >= outputSeq
      );
    });
    const third = await viewer(tid);
    const fromScratch = await viewer(tid, "no-snapshots");
    for (const v of [second, third, fromScratch]) await v.waitFor(/^tail blue done\n70$/m);
    const lastSeq = Math.max(first.seq, second.seq, third.seq, fromScratch.seq);
    await until("all caught up", async () =>
      [first, second, third, fromScratch].every((v) => v.seq >= lastSeq),
    );
    expect(third.seq).toBeGreaterThan(0);
    const serialized = await Promise.all(
      [first, second, third, fromScratch].map(async (v) => {
        await v.screen.idle();
        return v.screen.serialize();
      }),
    );
    expect(serialized[0]).toContain("line 300");
    for (const s of serialized.slice(1)) expect(s).toBe(serialized[0]);
    expect([first, second, third].map((v) => [v.screen.cols, v.screen.rows])).toEqual([
      [70, 25],
      [70, 25],
      [70, 25],
    ]);
  });

  it("reports the exit code, restarts, and counts viewers", async () => {
    const tid = newTerminalId();
    const opened = await open({ tid });
    const v = await viewer(tid);
    typeInto(t.nc, TEST_WSID, tid, "exit 7\r");
    const exited = await until("exited", async () => {
      const view = await terminalView(t.nc, TEST_WSID, tid);
      return view?.status === "exited" ? view : undefined;
    });
    expect(exited.exit).toMatchObject({ code: 7, signal: null });
    expect(exited.pid).toBeUndefined();
    expect(alive(opened.pid!)).toBe(false);

    expect(await terminalCommand(t.nc, TEST_WSID, "RestartTerminal", { tid })).toMatchObject({
      ok: true,
    });
    const restarted = await until("restarted", async () => {
      const view = await terminalView(t.nc, TEST_WSID, tid);
      return view?.status === "running" && view.pid ? view : undefined;
    });
    expect(restarted.generation).toBe(2);
    expect(restarted.exit).toBeUndefined();
    expect(restarted.pid).not.toBe(opened.pid);
    typeInto(t.nc, TEST_WSID, tid, "echo second-$((1+1))\r");
    await v.waitFor(/^second-2$/m);

    // A killed shell is reported with its signal.
    process.kill(restarted.pid!, "SIGKILL");
    const killed = await until("killed", async () => {
      const view = await terminalView(t.nc, TEST_WSID, tid);
      return view?.status === "exited" && view.generation === 2 ? view : undefined;
    });
    expect(killed.exit).toMatchObject({ code: null, signal: 9 });

    // Presence: two viewers, then one leaves.
    const presence = (id: string, state: "open" | "closed") =>
      t.nc.publish(
        `ws.${TEST_WSID}.term.${tid}.viewer`,
        JSON.stringify({ viewer: id, label: "test", state }),
      );
    presence("viewer-aaaaaaaa", "open");
    presence("viewer-bbbbbbbb", "open");
    await until(
      "two viewers",
      async () => (await terminalView(t.nc, TEST_WSID, tid))?.viewers.length === 2,
    );
    presence("viewer-aaaaaaaa", "closed");
    const one = await until("one viewer", async () => {
      const view = await terminalView(t.nc, TEST_WSID, tid);
      return view?.viewers.length === 1 ? view : undefined;
    });
    expect(one.viewers[0]?.id).toBe("viewer-bbbbbbbb");
  });

  it("terminal files: the path names the terminal, cwd is its directory; close ends it", async () => {
    const folder = join(home, "a dir");
    await mkdir(folder, { recursive: true });
    const path = join(folder, "work.term");
    const tid = terminalIdForPath(path);
    const wrong = await terminalCommand(t.nc, TEST_WSID, "OpenTerminal", {
      tid: newTerminalId(),
      path,
    });
    expect(wrong).toMatchObject({ ok: false, error: { code: "ERR_TERM_INVALID" } });
    const unknown = await terminalCommand(t.nc, TEST_WSID, "RestartTerminal", {
      tid: newTerminalId(),
    });
    expect(unknown).toMatchObject({ ok: false, error: { code: "ERR_TERM_NOT_FOUND" } });

    const opened = await open({ tid, path });
    expect(opened).toMatchObject({ title: "work", path, cwd: folder });
    // Opening it again (another tab, the explorer) is the same terminal.
    expect(await terminalCommand(t.nc, TEST_WSID, "OpenTerminal", { tid, path })).toEqual({
      ok: true,
      seqs: [],
    });
    const v = await viewer(tid);
    typeInto(t.nc, TEST_WSID, tid, "pwd\r");
    await v.waitFor(new RegExp(`^${folder}$`, "m"));

    expect(await terminalCommand(t.nc, TEST_WSID, "CloseTerminal", { tid })).toMatchObject({
      ok: true,
    });
    await until(
      "view gone",
      async () => (await terminalView(t.nc, TEST_WSID, tid)) === undefined || undefined,
    );
    await until("shell gone", async () => !alive(opened.pid!));
    const snapshots = await new Kvm(t.nc).open("term-snapshots");
    const snap = await snapshots.get(`${TEST_WSID}.${tid}`);
    expect(snap === null || snap.operation !== "PUT").toBe(true);
  });

  it("a flood (yes for 20 s) keeps memory bounded and the terminal usable", async () => {
    const tid = newTerminalId();
    await open({ tid });
    const host = ptyHostPid(dir)!;
    typeInto(t.nc, TEST_WSID, tid, "yes\r");
    const samples: { s: number; service: number; host: number; nats: number }[] = [];
    const natsPid = t.server.pid!;
    for (let s = 1; s <= 20; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push({ s, service: rssMb(worker.pid!), host: rssMb(host), nats: rssMb(natsPid) });
    }
    const last = await t.jsm.streams.getMessage("WS_TERM", {
      last_by_subj: `ws.${TEST_WSID}.term.${tid}.out`,
    });
    const produced = Number(last?.header?.get("Term-Offset")) + (last?.data.length ?? 0);
    const stored = (await t.jsm.streams.info("WS_TERM")).state;
    console.log(
      `flood: ${(produced / 2 ** 20).toFixed(0)} MiB of output in 20 s; WS_TERM holds ${(stored.bytes / 2 ** 20).toFixed(0)} MiB in ${stored.messages} messages`,
    );
    typeInto(t.nc, TEST_WSID, tid, "\x03");
    typeInto(t.nc, TEST_WSID, tid, "echo after-$((2*21))\r");
    // Attaching after the flood: the newest snapshot and a short tail, not 100 MB of output.
    const v = await viewer(tid);
    await v.waitFor(/^after-42$/m, 60_000);
    const early = samples.slice(2, 5);
    const late = samples.slice(-5);
    const max = (xs: typeof samples, k: "service" | "host" | "nats") =>
      Math.max(...xs.map((x) => x[k]));
    console.log(
      `flood RSS MB (service/host/nats): early ${max(early, "service").toFixed(0)}/${max(early, "host").toFixed(0)}/${max(early, "nats").toFixed(0)}, late ${max(late, "service").toFixed(0)}/${max(late, "host").toFixed(0)}/${max(late, "nats").toFixed(0)}`,
    );
    // Bounded: after the first seconds, more output does not mean more memory.
    expect(max(late, "service")).toBeLessThan(max(early, "service") + 100);
    expect(max(late, "host")).toBeLessThan(max(early, "host") + 50);
    expect(max(late, "service")).toBeLessThan(600);
    expect(max(late, "host")).toBeLessThan(200);
  });

  it("an event of a newer build on a terminal is skipped and rejected; the terminal still closes", async () => {
    const tid = newTerminalId();
    const opened = await open({ tid });
    const life = terminalSubjects(TEST_WSID, tid).life;
    const newer = { ...envelope(TerminalResized, { cols: 81, rows: 25 }, meta()), v: 2 };
    const skipped = (await t.js.publish(life, encodeEvent(newer))).seq;
    expect(await terminalCommand(t.nc, TEST_WSID, "CloseTerminal", { tid })).toMatchObject({
      ok: true,
    });
    await until(
      "closed",
      async () => (await terminalView(t.nc, TEST_WSID, tid)) === undefined || undefined,
    );
    await until("shell gone", async () => !alive(opened.pid!));
    const last = await lastSubjectSeq(t.jsm, Streams.WS_TERM_LIFE, life);
    const recorded = (await readSubjectMessages(t.js, Streams.WS_TERM_LIFE, life, skipped, last))
      .map((m) => readMessage(terminalRegistry, m.data))
      .flatMap((read) => (read.kind === "rejection" ? [read.event.data] : []));
    expect(recorded).toEqual([
      {
        seq: skipped,
        error: {
          code: "ERR_EVENT_UNKNOWN_TYPE",
          message: "TerminalResized v2 is newer than this build (v1)",
        },
      },
    ]);
  });

  it("when the pty host dies, its terminals are reported exited and can be restarted", async () => {
    const tid = newTerminalId();
    const opened = await open({ tid });
    const host = ptyHostPid(dir)!;
    process.kill(host, "SIGKILL");
    const lost = await until("reported lost", async () => {
      const v = await terminalView(t.nc, TEST_WSID, tid);
      return v?.status === "exited" ? v : undefined;
    });
    expect(lost.exit?.reason).toMatch(/pty host/);
    await until("shell gone", async () => !alive(opened.pid!));
    expect(await terminalCommand(t.nc, TEST_WSID, "RestartTerminal", { tid })).toMatchObject({
      ok: true,
    });
    const again = await until("running again", async () => {
      const v = await terminalView(t.nc, TEST_WSID, tid);
      return v?.status === "running" && v.pid ? v : undefined;
    });
    expect(ptyHostPid(dir)).not.toBe(host);
    const v = await viewer(tid);
    typeInto(t.nc, TEST_WSID, tid, "echo back-$((50+1))\r");
    await v.waitFor(/^back-51$/m);
    expect(again.generation).toBe(2);
  });
});
