/**
 * `list`: time to the first rendered page of a 100,000-entry directory in the explorer
 * (Chromium, through the fs service and NATS), next to `ls -f DIR | wc -l` on the same
 * directory (the anchor: reading the names and nothing else). Then the time to show rows in
 * the middle of the directory after a jump of the scrollbar.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHROMIUM, HAVE_CHROMIUM } from "../helpers/browser.js";
import { explorerReady, signedInPage, startBenchPlus } from "./files-plus.js";
import { median, num, yesNo } from "./stats.js";

const TARGET = 3;

function lsOnce(dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("sh", ["-c", `ls -f "$0" | wc -l`, dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`ls exited with ${code}`));
      else if (Number(out.trim()) < 2) reject(new Error(`ls listed ${out.trim()} entries`));
      else resolve(ms);
    });
  });
}

/**
 * In the page: clicks the folder `name` and resolves, in ms, when the first row of the new
 * listing is in the DOM and a frame with it has been painted.
 */
const OPEN_AND_TIME = `(async ({ name, dir }) => {
  const rowSel = (d) => '[data-testid="explorer"][data-dir="' + d + '"] [data-testid="file-row"][data-name]';
  const link = document.querySelector('[data-testid="file-row"][data-name="' + name + '"] [data-testid="entry-name"]');
  if (!link) throw new Error("no entry " + name);
  const t0 = performance.now();
  link.click();
  await new Promise((resolve) => {
    const check = () => {
      if (document.querySelector(rowSel(dir))) {
        obs.disconnect();
        requestAnimationFrame(() => requestAnimationFrame(resolve));
      }
    };
    const obs = new MutationObserver(check);
    obs.observe(document.body, { subtree: true, childList: true, attributes: true });
    check();
  });
  return performance.now() - t0;
})`;

/** In the page: jumps to the middle of the list; ms until real rows (not placeholders) show. */
const SCROLL_AND_TIME = `(async () => {
  const scroller = document.querySelector('[data-testid="file-list"]');
  const t0 = performance.now();
  scroller.scrollTop = scroller.scrollHeight / 2;
  await new Promise((resolve) => {
    const check = () => {
      const rows = [...document.querySelectorAll('[data-testid="file-row"][data-name]')];
      if (rows.some((r) => Number(r.getAttribute("aria-rowindex")) > 40000)) {
        obs.disconnect();
        requestAnimationFrame(() => requestAnimationFrame(resolve));
      }
    };
    const obs = new MutationObserver(check);
    obs.observe(document.body, { subtree: true, childList: true, attributes: true });
    check();
  });
  return performance.now() - t0;
})()`;

export async function listBench(): Promise<string> {
  const quick = process.env.BENCH_QUICK === "1";
  const runs = quick ? 3 : 7;
  const entries = 100_000;
  if (!HAVE_CHROMIUM) {
    console.log(`list: needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
    return "list: ratio=n/a reason=no-chromium";
  }
  const dir = await mkdtemp(join(tmpdir(), "bench-list-"));
  const home = join(dir, "home");
  const big = join(home, "big");
  mkdirSync(big, { recursive: true });
  const t0 = performance.now();
  for (let i = 1; i <= entries; i++) closeSync(openSync(join(big, `entry-${i}`), "w"));
  console.log(
    `list: ${entries} empty files made in ${num((performance.now() - t0) / 1000, 1)} s; ${runs} alternating runs`,
  );
  const plus = await startBenchPlus(dir, home);
  const { page, close } = await signedInPage(plus, home);
  try {
    // Warm up both sides once (page code, service code, dentry cache).
    await lsOnce(big);
    await page.evaluate(`${OPEN_AND_TIME}(${JSON.stringify({ name: "big", dir: big })})`);
    const ours: number[] = [];
    const anchor: number[] = [];
    const scroll: number[] = [];
    for (let run = 1; run <= runs; run++) {
      await page.getByTestId("go-up").click();
      await explorerReady(page, home);
      const ls = await lsOnce(big);
      const ms = (await page.evaluate(
        `${OPEN_AND_TIME}(${JSON.stringify({ name: "big", dir: big })})`,
      )) as number;
      await explorerReady(page, big);
      const sc = (await page.evaluate(SCROLL_AND_TIME)) as number;
      anchor.push(ls);
      ours.push(ms);
      scroll.push(sc);
      console.log(
        `  run ${run}: ls -f | wc -l ${num(ls, 1)} ms; explorer first page ${num(ms, 1)} ms; middle of the list ${num(sc, 1)} ms`,
      );
    }
    const m = median(ours);
    const a = median(anchor);
    const s = median(scroll);
    const ratio = m / a;
    console.log(
      `  median: ls ${num(a, 1)} ms, explorer ${num(m, 1)} ms, ratio ${num(ratio, 2)} (target <= ${TARGET}: ${yesNo(ratio <= TARGET)}); jump to the middle ${num(s, 1)} ms`,
    );
    return `list: ratio=${num(ratio, 2)} explorer_ms=${num(m, 1)} ls_ms=${num(a, 1)} target_met=${yesNo(ratio <= TARGET)} entries=${entries} runs=${runs} scroll_middle_ms=${num(s, 1)}`;
  } finally {
    await close();
    await plus.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
