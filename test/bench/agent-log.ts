/**
 * Agent turn logs: a real cocalc-plus running the scripted ACP agent, which floods a turn
 * with 10,000 message updates (each carrying the time it was written), shown in Chromium.
 *
 * - live: the time from the agent's write of an update to the page's store having it,
 *   sampled whenever the turn's store grows (p50, p95, p99, max), and from the first write to all
 *   10,000 in the store;
 * - replay: a tab opened after the turn, showing the thread: from the turn card's mount (its
 *   log opened) until its store holds every event, against the anchor: a raw ordered-consumer replay of the
 *   same subject in Node (as the browser user), without parsing. ratio = replay / anchor. The
 *   tab reads the turn's snapshot when the agents service has stored it (each run says which);
 * - stop: from InterruptTurn on a streaming turn to its view saying cancelled (median of 5);
 * - heap: 50 threads with such a turn opened one after another (selecting each thread shows
 *   its turn, the previous one's log is let go); the page's JS heap after a GC.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { type NatsConnection, usernamePasswordAuthenticator } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { Page } from "playwright-core";
import { agentCommand, turnView } from "../../services/agents/test-kit.js";
import { freePort } from "../../services/runtime/ports.js";
import {
  defaultThreadSettings,
  newThreadId,
  newTurnId,
  roomIdForPath,
  turnEnded,
  turnIdentifiers,
} from "../../shared/agents.js";
import { BrowserInbox } from "../../shared/browser-permissions.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { spawnServer, stopServer, waitForHttp200 } from "./proc.js";
import { median, num, percentile, sleep, yesNo } from "./stats.js";

const QUICK = process.env.BENCH_QUICK === "1";
const UPDATES = 10_000;
const HEAP_TURNS = QUICK ? 10 : 50;
const REPLAY_TARGET_MS = 150;
const PLUS_CLI = fileURLToPath(new URL("../../bundle/plus.js", import.meta.url));
const AGENT = fileURLToPath(new URL("../../../test/fixtures/scripted-agent.mjs", import.meta.url));

async function waitEnded(
  nc: NatsConnection,
  wsid: string,
  thread: string,
  turn: string,
  everyMs = 50,
) {
  for (let i = 0; i < 120_000 / everyMs; i++) {
    const v = await turnView(nc, wsid, thread, turn);
    if (v && turnEnded(v.status)) return v;
    await sleep(everyMs);
  }
  throw new Error(`turn ${turn} did not end`);
}

/** Events on a turn's log, read raw with an ordered consumer: the anchor. */
async function rawReplay(nc: NatsConnection, wsid: string, thread: string, turn: string) {
  const ids = turnIdentifiers(wsid, thread, turn);
  const start = performance.now();
  const consumer = await jetstream(nc).consumers.get(ids.logStream, {
    filter_subjects: ids.logSubject,
    deliver_policy: DeliverPolicy.All,
  });
  const messages = await consumer.consume({ max_messages: 2000 });
  let n = 0;
  for await (const m of messages) {
    n++;
    if (m.info.pending === 0) break;
  }
  messages.stop();
  return { ms: performance.now() - start, count: n };
}

/** Installed before the page's scripts: notes when a turn card appears and when its store is full. */
function replayProbe(total: number) {
  const w = window as unknown as {
    __replay?: { mounted?: number; full?: number; rendered?: number; source?: string | null };
  };
  w.__replay = {};
  const check = () => {
    const card = document.querySelector('[data-testid="turn-log"]');
    if (!card) return;
    w.__replay!.mounted ??= performance.now();
    if (Number(card.getAttribute("data-events")) >= total && w.__replay!.full === undefined) {
      w.__replay!.full = performance.now();
      w.__replay!.source = card.getAttribute("data-source");
    }
    if (
      w.__replay!.full !== undefined &&
      w.__replay!.rendered === undefined &&
      card.querySelector(".turn-message:not(.markdown-plain)")
    ) {
      w.__replay!.rendered = performance.now();
    }
  };
  new MutationObserver(check).observe(document, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ["data-events"],
  });
}

/** Samples, on every growth of the last turn's store, how old the newest update is. */
async function liveProbe(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __live: { samples: number[]; first?: number; count: number } };
    w.__live = { samples: [], count: 0 };
    const check = () => {
      const logs = document.querySelectorAll('[data-testid="turn-log"]');
      const log = logs[logs.length - 1];
      if (!log) return;
      const count = Number(log.getAttribute("data-events"));
      if (count === w.__live.count) return;
      w.__live.count = count;
      const tail = log.getAttribute("data-tail") ?? "";
      const stamps = [...tail.matchAll(/@(\d{13})/g)];
      const last = stamps[stamps.length - 1];
      if (!last) return;
      const now = Date.now();
      w.__live.first ??= Number(stamps[0]?.[1] ?? now);
      w.__live.samples.push(now - Number(last[1]));
    };
    new MutationObserver(check).observe(document, {
      subtree: true,
      attributes: true,
      attributeFilter: ["data-events"],
    });
  });
}

/** Clicks a thread by title; the list renders only rows in view, so it is scrolled to it. */
async function openThread(page: Page, title: string): Promise<void> {
  const list = page.getByTestId("thread-list");
  await list.evaluate((el) => {
    el.scrollTop = 0;
  });
  for (let i = 0; i < 400; i++) {
    const step = await list.evaluate((el, title) => {
      const row = Array.from(el.querySelectorAll<HTMLElement>('[data-testid="thread"]')).find(
        (b) => b.getAttribute("title") === title,
      );
      if (row) {
        row.click();
        return "clicked";
      }
      el.scrollTop += el.clientHeight / 2;
      return el.scrollTop + el.clientHeight >= el.scrollHeight ? "bottom" : "scrolled";
    }, title);
    if (step === "clicked") return;
    await sleep(step === "bottom" ? 200 : 30);
  }
  const shown = await list.locator(".agents-thread-title").allTextContents();
  throw new Error(`thread ${title} not found in the list (rows shown: ${shown.join(", ")})`);
}

export async function agentLogBench(): Promise<string> {
  if (!HAVE_CHROMIUM) return "agent-log: skipped (no Chromium)";
  const dir = await mkdtemp(join(tmpdir(), "cocalc-bench-agents-"));
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
    [
      PLUS_CLI,
      "--no-open",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
      "--write-connection-info",
      join(dir, "info.json"),
    ],
    env,
  );
  let nc: NatsConnection | undefined;
  const browser = await launchChromium();
  try {
    await waitForHttp200(`http://127.0.0.1:${port}/healthz`, plus);
    const run = JSON.parse(readFileSync(join(dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    const secrets = JSON.parse(readFileSync(join(dataDir, "secrets.json"), "utf8")) as {
      browserPassword: string;
    };
    // The connection info is written beside the health answer; it can land a moment later.
    for (let i = 0; i < 100 && !existsSync(join(dir, "info.token")); i++) await sleep(100);
    const token = readFileSync(join(dir, "info.token"), "utf8").trim();
    nc = await connect({
      servers: run.natsUrl,
      authenticator: usernamePasswordAuthenticator("browser", secrets.browserPassword),
      inboxPrefix: BrowserInbox,
    });
    const wsid = run.wsid;
    const roomPath = join(home, "bench.chat");
    await writeFile(roomPath, '{"type":"cocalc-chat","v":1}\n');
    const room = roomIdForPath(roomPath);
    const settings = {
      ...defaultThreadSettings(home),
      agent: "custom" as const,
      command: `${process.execPath} ${AGENT}`,
      mode: "full-access" as const,
    };
    const newThread = async (title: string) => {
      const thread = newThreadId();
      const r = await agentCommand(nc!, wsid, "CreateThread", { room, thread, title, settings });
      if (!r.ok) throw new Error(`CreateThread: ${r.error.message}`);
      return thread;
    };
    const submit = async (thread: string, prompt: string) => {
      const turn = newTurnId();
      const r = await agentCommand(nc!, wsid, "SubmitTurn", { room, thread, turn, prompt });
      if (!r.ok) throw new Error(`SubmitTurn: ${r.error.message}`);
      return turn;
    };
    const flood = async (thread: string) => {
      const turn = newTurnId();
      const r = await agentCommand(nc!, wsid, "SubmitTurn", {
        room,
        thread,
        turn,
        prompt: `flood ${UPDATES} stamp`,
      });
      if (!r.ok) throw new Error(`SubmitTurn: ${r.error.message}`);
      return turn;
    };

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${port}/?token=${token}`);
    await page.waitForURL(`http://127.0.0.1:${port}/`);
    const liveThread = await newThread("live");
    await page.goto(`http://127.0.0.1:${port}/files/bench.chat`);
    await page.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
    await liveProbe(page);

    // Live: the page shows the thread while the agent floods it.
    const prof = process.env.KPROF ? await context.newCDPSession(page) : undefined;
    if (prof) {
      await prof.send("Profiler.enable");
      await prof.send("Profiler.setSamplingInterval", { interval: 200 });
      await prof.send("Profiler.start");
    }
    const liveTurn = await flood(liveThread);
    await waitEnded(nc, wsid, liveThread, liveTurn);
    if (prof) {
      const { profile } = await prof.send("Profiler.stop");
      await writeFile(process.env.KPROF!, JSON.stringify(profile));
    }
    const { count: total } = await rawReplay(nc, wsid, liveThread, liveTurn);
    await page.waitForFunction(
      (n) => {
        const logs = document.querySelectorAll('[data-testid="turn-log"]');
        return Number(logs[logs.length - 1]?.getAttribute("data-events")) >= n;
      },
      total,
      { timeout: 120_000 },
    );
    const live = await page.evaluate(
      () => (window as unknown as { __live: { samples: number[] } }).__live.samples,
    );
    const liveAll = await page.evaluate(() => {
      const w = window as unknown as { __live: { first?: number } };
      return Date.now() - (w.__live.first ?? Date.now());
    });

    // Stop: a turn streaming slowly, interrupted; until its view says cancelled.
    const stopThread = await newThread("stop");
    const stops: number[] = [];
    for (let i = 0; i < 5; i++) {
      const turn = await submit(stopThread, "slow 500 100");
      for (let j = 0; j < 600; j++) {
        if ((await turnView(nc, wsid, stopThread, turn))?.status === "running") break;
        await sleep(20);
      }
      await sleep(300);
      const asked = performance.now();
      const r = await agentCommand(nc, wsid, "InterruptTurn", { room, thread: stopThread, turn });
      if (!r.ok) throw new Error(`InterruptTurn: ${r.error.message}`);
      const v = await waitEnded(nc, wsid, stopThread, turn, 5);
      if (v.status !== "cancelled") throw new Error(`stopped turn ended ${v.status}`);
      stops.push(performance.now() - asked);
    }
    const stopMs = median(stops);

    // Replay: a tab that opens after the turn, three times; the anchor alternates with it.
    // The tab first shows another (empty) thread, so the replay is measured on a loaded page.
    await newThread("idle");
    const replay: number[] = [];
    /** Where each replay's log came from: its snapshot or its events. */
    const sources: string[] = [];
    /** Until the turn's answer shows as rendered markdown. */
    const rendered: number[] = [];
    const anchor: number[] = [];
    await rawReplay(nc, wsid, liveThread, liveTurn);
    for (let i = 0; i < 3; i++) {
      const tab = await context.newPage();
      await tab.addInitScript(replayProbe, total);
      await tab.goto(`http://127.0.0.1:${port}/files/bench.chat`);
      await tab.getByTestId("thread").filter({ hasText: "idle" }).waitFor({ timeout: 30_000 });
      await tab.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
      await sleep(500);
      await tab.getByTestId("thread").filter({ hasText: "live" }).click();
      await tab.waitForFunction(
        () =>
          (window as unknown as { __replay: { rendered?: number } }).__replay.rendered !==
          undefined,
        undefined,
        {
          timeout: 120_000,
        },
      );
      const r = await tab.evaluate(
        () =>
          (
            window as unknown as {
              __replay: { mounted: number; full: number; rendered: number; source: string };
            }
          ).__replay,
      );
      if (process.env.BENCH_SHOTS && i === 0) {
        await tab.screenshot({ path: join(process.env.BENCH_SHOTS, "agent-log-replayed.png") });
      }
      replay.push(r.full - r.mounted);
      sources.push(r.source);
      rendered.push(r.rendered - r.mounted);
      await tab.close();
      anchor.push((await rawReplay(nc, wsid, liveThread, liveTurn)).ms);
    }

    if (process.env.BENCH_REPLAY_ONLY === "1") {
      console.log(
        `replay ${replay.map((x) => num(x)).join(" ")} from ${sources.join(" ")} anchor ${anchor.map((x) => num(x)).join(" ")} stop ${stops.map((x) => num(x)).join(" ")}`,
      );
      return "replay only";
    }
    // Heap: many such turns, opened one after another.
    const threads: string[] = [];
    const turns: Promise<void>[] = [];
    for (let i = 0; i < HEAP_TURNS; i++) {
      const th = await newThread(`heap ${String(i).padStart(2, "0")}`);
      threads.push(th);
      const tu = await flood(th);
      turns.push(waitEnded(nc, wsid, th, tu).then(() => undefined));
    }
    await Promise.all(turns);
    const cdp = await context.newCDPSession(page);
    const heap = async () => {
      await cdp.send("HeapProfiler.collectGarbage");
      return (await cdp.send("Runtime.getHeapUsage")).usedSize / 2 ** 20;
    };
    const heaps: number[] = [];
    for (let i = 0; i < HEAP_TURNS; i++) {
      await openThread(page, `heap ${String(i).padStart(2, "0")}`);
      await page.waitForFunction(
        (n) => {
          const logs = document.querySelectorAll('[data-testid="turn-log"]');
          return logs.length === 1 && Number(logs[0]?.getAttribute("data-events")) >= n;
        },
        total,
        { timeout: 120_000 },
      );
      if (i === 0 || i === 9 || i === HEAP_TURNS - 1) heaps.push(await heap());
    }
    await context.close();

    const replayMs = median(replay);
    const anchorMs = median(anchor);
    const ratio = replayMs / anchorMs;
    const first = heaps[0] ?? 0;
    const lastHeap = heaps.at(-1) ?? 0;
    const bounded = lastHeap <= first * 1.5 + 10;
    console.log(
      `agent-log: one turn with ${UPDATES} updates (${total} log events), plus + scripted ACP agent + Chromium`,
    );
    console.log(
      `  live, agent write -> browser store: p50 ${num(percentile(live, 50))} ms, p95 ${num(percentile(live, 95))} ms, p99 ${num(percentile(live, 99))} ms, max ${num(Math.max(...live))} ms over ${live.length} samples; first write -> all in store ${num(liveAll)} ms`,
    );
    console.log(
      `  replay of the finished turn in a new tab: median ${num(replayMs)} ms (target <= ${REPLAY_TARGET_MS} ms: ${yesNo(replayMs <= REPLAY_TARGET_MS)}); anchor raw ordered consumer in Node: median ${num(anchorMs, 1)} ms; ratio ${num(ratio, 2)}; answer rendered as markdown after median ${num(median(rendered))} ms (runs: ${replay.map((x) => num(x)).join(", ")} ms, from ${sources.join(", ")}; anchor runs: ${anchor.map((x) => num(x, 1)).join(", ")} ms)`,
    );
    console.log(
      `  stop of a streaming turn, InterruptTurn -> view cancelled: median ${num(stopMs)} ms (runs: ${stops.map((x) => num(x)).join(", ")} ms)`,
    );
    console.log(
      `  heap after opening ${HEAP_TURNS} such turns one after another: ${heaps.map((h) => num(h, 1)).join(" / ")} MiB (after 1st / 10th / last; bounded: ${yesNo(bounded)})`,
    );
    return `agent-log: ratio=${num(ratio, 2)} replay_ms=${num(replayMs)} rendered_ms=${num(median(rendered))} anchor_ms=${num(anchorMs, 1)} live_p50_ms=${num(percentile(live, 50))} live_p95_ms=${num(percentile(live, 95))} live_p99_ms=${num(percentile(live, 99))} live_all_ms=${num(liveAll)} stop_ms=${num(stopMs)} heap_first_mib=${num(first, 1)} heap_last_mib=${num(lastHeap, 1)} heap_bounded=${yesNo(bounded)} replay_target_met=${yesNo(replayMs <= REPLAY_TARGET_MS)}`;
  } finally {
    await browser.close().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await stopServer(plus);
    await rm(dir, { recursive: true, force: true });
  }
}
