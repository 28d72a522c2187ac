/**
 * Driving terminals from Node, the way a browser does: commands, keystrokes over core NATS,
 * and a viewer that attaches (snapshot + tail) into a headless xterm. For tests and benchmarks.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { commandReply } from "../../shared/command-client.js";
import type { CommandReply } from "../../shared/commands.js";
import { Buckets, Keys, terminalSubjects, workspaceSubjects } from "../../shared/subjects.js";
import type { TerminalView } from "../../shared/terminals.js";
import { TerminalReplay } from "./replay.js";
import { HeadlessScreen } from "./screen.js";
import { TERMINALS_SERVICE } from "./service.js";

/** Sends a terminals command and returns the reply. */
export function terminalCommand(
  nc: NatsConnection,
  wsid: string,
  type: string,
  data: unknown,
): Promise<CommandReply> {
  return commandReply(
    nc,
    workspaceSubjects(wsid).command(TERMINALS_SERVICE),
    { type, data },
    { timeoutMs: 20_000 },
  );
}

/**
 * The terminals service in a process of its own (`worker`: the built
 * test/helpers/terminals-worker.js), for tests that kill it; resolves once it runs.
 */
export async function startTerminalsWorker(
  worker: string,
  o: { url: string; seed: string; wsid: string; dir: string; home: string; path?: string },
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [worker], {
    env: {
      ...process.env,
      NATS_URL: o.url,
      TERM_WSID: o.wsid,
      TERM_DIR: o.dir,
      HOME: o.home,
      ...(o.path !== undefined && { PATH: o.path }),
      SHELL: "/bin/bash",
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  child.stdin!.end(o.seed);
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("running")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`terminals worker exited with ${code}`)));
  });
  return child;
}

/** Keystrokes, as a browser sends them. */
export function typeInto(nc: NatsConnection, wsid: string, tid: string, text: string): void {
  nc.publish(terminalSubjects(wsid, tid).input, new TextEncoder().encode(text));
}

/** A terminal's view record, if it has one. */
export async function terminalView(
  nc: NatsConnection,
  wsid: string,
  tid: string,
): Promise<TerminalView | undefined> {
  // By subject, as the browser may read it (web/src/lib/views.ts).
  const kv = await new Kvm(nc).open(Buckets.terms, { allow_direct: true });
  const e = await kv.get(Keys.terminal(wsid, tid));
  return e && e.operation === "PUT" && e.length > 0 ? e.json<TerminalView>() : undefined;
}

/** Every line of a screen (scrollback first), trailing blanks trimmed. */
export function screenText(screen: HeadlessScreen): string {
  const buffer = screen.term.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < buffer.length; i++) {
    lines.push(buffer.getLine(i)?.translateToString(true) ?? "");
  }
  return lines.join("\n").trimEnd();
}

/** A viewer in Node: attaches like the browser does and follows live output. */
export class NodeViewer {
  readonly screen: HeadlessScreen;
  private replay: TerminalReplay | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly wsid: string,
    private readonly tid: string,
    private readonly snapshotsBucket: string = Buckets.termSnapshots,
  ) {
    this.screen = new HeadlessScreen(80, 24);
  }

  get seq(): number {
    return this.replay?.seq ?? 0;
  }

  /** Attaches; resolves once caught up with what was stored when it started. */
  async attach(follow = true) {
    const snapshots: KV = await new Kvm(this.nc).open(this.snapshotsBucket, {
      allow_direct: true,
    });
    this.replay = new TerminalReplay({
      js: jetstream(this.nc),
      jsm: await jetstreamManager(this.nc),
      snapshots,
      wsid: this.wsid,
      tid: this.tid,
      screen: this.screen,
    });
    const at = await this.replay.attach(follow);
    await this.screen.idle();
    return at;
  }

  async text(): Promise<string> {
    await this.screen.idle();
    return screenText(this.screen);
  }

  /** Waits until the screen matches `pattern`; returns the match. */
  async waitFor(pattern: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = (await this.text()).match(pattern);
      if (m) return m;
      if (Date.now() > deadline) {
        throw new Error(`screen never matched ${pattern}:\n${(await this.text()).slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async stop(): Promise<void> {
    this.replay?.stop();
    await this.replay?.following.catch(() => undefined);
    this.screen.dispose();
  }
}
