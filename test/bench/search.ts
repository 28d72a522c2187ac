/**
 * `search`: a search in files over a 100,000-file tree through the page (Chromium: the Search
 * tab, the fs service's ripgrep, NATS, the rows drawn) next to `rg -n -C 1 PATTERN DIR` run
 * directly (the anchor). Each side is timed to its first result and to all results; the
 * ratio is for all results.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { CHROMIUM, HAVE_CHROMIUM } from "../helpers/browser.js";
import { signedInPage, startBenchPlus } from "./files-plus.js";
import { median, num, yesNo } from "./stats.js";

const TARGET = 1.5;
const FIRST_TARGET_MS = 300;
const FOLDERS = 100;
const PER_FOLDER = 1000;
/** One file in this many holds the pattern: 1,000 matching lines, under the page's cap. */
const EVERY = 100;

/** rg run directly: ms to its first byte of output and to its exit. */
function rgOnce(dir: string): Promise<{ first: number; all: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first: number | undefined;
    let lines = 0;
    const child = spawn("rg", ["-n", "-C", "1", "needle", dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child.stdout.on("data", (d: Buffer) => {
      first ??= performance.now() - t0;
      for (const b of d) if (b === 10) lines++;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const all = performance.now() - t0;
      if (code !== 0 || first === undefined) reject(new Error(`rg exited with ${code}`));
      else if (lines < FOLDERS * (PER_FOLDER / EVERY))
        reject(new Error(`rg printed ${lines} lines`));
      else resolve({ first, all });
    });
  });
}

/**
 * In the page: clicks Search and resolves with ms to the first matching row in the DOM and
 * to the summary saying done, each after a frame with it was painted.
 */
const SEARCH_AND_TIME = `(async () => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const t0 = performance.now();
  let first;
  const done = new Promise((resolve, reject) => {
    const check = () => {
      if (first === undefined && document.querySelector('[data-testid="search-match"]')) {
        first = performance.now() - t0;
      }
      const state = document.querySelector('[data-testid="search-summary"]')?.getAttribute("data-state");
      if (state === "failed") { obs.disconnect(); reject(new Error("the search failed")); }
      if (state === "done" && first !== undefined) { obs.disconnect(); resolve(); }
    };
    const obs = new MutationObserver(check);
    obs.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    document.querySelector('[data-testid="search-run"]').click();
    check();
  });
  await done;
  await frame();
  return { first, all: performance.now() - t0 };
})()`;

async function pageOnce(page: Page): Promise<{ first: number; all: number }> {
  // A cleared result list, so the next run's first row is its own.
  await page.getByTestId("search-input").fill("");
  await page.getByTestId("search-input").fill("needle");
  return (await page.evaluate(SEARCH_AND_TIME)) as { first: number; all: number };
}

export async function searchBench(): Promise<string> {
  const quick = process.env.BENCH_QUICK === "1";
  const runs = quick ? 3 : 7;
  if (!HAVE_CHROMIUM) {
    console.log(`search: needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
    return "search: ratio=n/a reason=no-chromium";
  }
  const dir = await mkdtemp(join(tmpdir(), "bench-search-"));
  const home = join(dir, "home");
  const tree = join(home, "tree");
  const t0 = performance.now();
  for (let f = 0; f < FOLDERS; f++) {
    const folder = join(tree, `d${f}`);
    mkdirSync(folder, { recursive: true });
    for (let i = 0; i < PER_FOLDER; i++) {
      const n = f * PER_FOLDER + i;
      const middle = n % EVERY === 0 ? `the needle of file ${n}` : `nothing in file ${n}`;
      writeFileSync(join(folder, `f${i}.txt`), `before ${n}\n${middle}\nafter ${n}\n`);
    }
  }
  const files = FOLDERS * PER_FOLDER;
  console.log(
    `search: ${files} files made in ${num((performance.now() - t0) / 1000, 1)} s; ${runs} alternating runs`,
  );
  const plus = await startBenchPlus(dir, home);
  const { page, close } = await signedInPage(plus, home);
  try {
    await page.keyboard.press("Control+Shift+F");
    await page.getByTestId("search-pane").waitFor({ timeout: 30_000 });
    await page.getByTestId("search-folder").fill(tree);
    // Warm up both sides once (page code, service code, the page cache).
    await rgOnce(tree);
    await pageOnce(page);
    const ours: { first: number; all: number }[] = [];
    const anchor: { first: number; all: number }[] = [];
    for (let run = 1; run <= runs; run++) {
      const rg = await rgOnce(tree);
      const p = await pageOnce(page);
      anchor.push(rg);
      ours.push(p);
      console.log(
        `  run ${run}: rg first ${num(rg.first, 1)} ms, all ${num(rg.all, 1)} ms; page first ${num(p.first, 1)} ms, all ${num(p.all, 1)} ms`,
      );
    }
    const all = median(ours.map((o) => o.all));
    const first = median(ours.map((o) => o.first));
    const rgAll = median(anchor.map((a) => a.all));
    const rgFirst = median(anchor.map((a) => a.first));
    const ratio = all / rgAll;
    const met = ratio <= TARGET && first <= FIRST_TARGET_MS;
    console.log(
      `  median: rg all ${num(rgAll, 1)} ms, page all ${num(all, 1)} ms, ratio ${num(ratio, 2)} (target <= ${TARGET}); page first ${num(first, 1)} ms (target <= ${FIRST_TARGET_MS}): ${yesNo(met)}`,
    );
    return `search: ratio=${num(ratio, 2)} page_all_ms=${num(all, 1)} rg_all_ms=${num(rgAll, 1)} page_first_ms=${num(first, 1)} rg_first_ms=${num(rgFirst, 1)} target_met=${yesNo(met)} files=${files} matches=${files / EVERY} runs=${runs}`;
  } finally {
    await close();
    await plus.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
