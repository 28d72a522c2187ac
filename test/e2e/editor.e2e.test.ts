import { execFileSync } from "node:child_process";
import { readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docsCommand } from "../../services/docs/test-kit.js";
import { connectServices } from "../../services/runtime/connect.js";
import { diffEdits, makePatch } from "../../shared/docs.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("editor in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    plus = await startPlus();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(plus.signInUrl);
    await page.waitForURL(plus.url);
    await page.close();
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  const content = (page: Page) => page.locator("[data-testid=code-editor] .cm-content");
  /** The editor's text: its lines, without others' cursor labels. */
  const textOf = (page: Page) =>
    content(page).evaluate((el) =>
      Array.from(el.querySelectorAll(".cm-line"))
        .map((line) => {
          const copy = line.cloneNode(true) as Element;
          for (const c of Array.from(copy.querySelectorAll(".cm-remote-cursor"))) c.remove();
          return copy.textContent ?? "";
        })
        .join("\n"),
    );
  const saveState = (page: Page) => page.getByTestId("save-state").getAttribute("data-state");

  async function openFile(name: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(new URL(`/files/${name}#editor`, plus.url).toString());
    await content(page).waitFor({ timeout: 30_000 });
    return page;
  }

  const disk = (name: string) => readFile(join(plus.home, name), "utf8");

  it("two pages typing into one file converge, with the file on disk", async () => {
    await writeFile(join(plus.home, "pair.py"), "def f():\n    return 1\n");
    const a = await openFile("pair.py");
    const b = await openFile("pair.py");
    await expect.poll(() => textOf(a), { timeout: 30_000 }).toContain("return 1");
    await expect.poll(() => textOf(b), { timeout: 30_000 }).toContain("return 1");
    await content(a).click();
    await a.keyboard.press("Control+End");
    await content(b).click();
    await b.keyboard.press("Control+Home");
    await Promise.all([
      a.keyboard.type("x = 'from a'\n", { delay: 15 }),
      b.keyboard.type("# from b\n", { delay: 15 }),
    ]);
    await expect.poll(() => saveState(a), { timeout: 30_000 }).toBe("saved");
    await expect.poll(() => saveState(b), { timeout: 30_000 }).toBe("saved");
    const ta = await textOf(a);
    await expect.poll(() => textOf(b), { timeout: 30_000 }).toBe(ta);
    expect(ta).toContain("x = 'from a'");
    expect(ta).toContain("# from b");
    await expect
      .poll(() => disk("pair.py"), { timeout: 30_000 })
      .toBe("# from b\ndef f():\n    return 1\nx = 'from a'\n");
    // Each page shows the other's cursor with its name.
    await expect.poll(() => a.locator(".cm-remote-cursor").count(), { timeout: 30_000 }).toBe(1);
    if (SHOTS) {
      await a.screenshot({ path: `${SHOTS}/editor-two-pages.png` });
      await content(a).click();
      await a.keyboard.press("Control+f");
      await a.locator(".cm-search").waitFor({ timeout: 30_000 });
      await a.screenshot({ path: `${SHOTS}/editor-search.png` });
      await a.keyboard.press("Escape");
    }
    // Undo in b undoes b's typing only.
    await content(b).click();
    for (let i = 0; i < 20; i++) await b.keyboard.press("Control+z");
    await expect.poll(() => textOf(a), { timeout: 30_000 }).not.toContain("# from b");
    expect(await textOf(a)).toContain("x = 'from a'");
    await a.close();
    await b.close();
  });

  it("a reload right after typing loses nothing", async () => {
    await writeFile(join(plus.home, "reload.md"), "# Title\n");
    const page = await openFile("reload.md");
    await expect.poll(() => textOf(page), { timeout: 30_000 }).toContain("Title");
    await content(page).click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("typed before reload");
    await page.reload();
    await content(page).waitFor({ timeout: 30_000 });
    await expect.poll(() => textOf(page), { timeout: 30_000 }).toContain("typed before reload");
    await expect
      .poll(() => disk("reload.md"), { timeout: 30_000 })
      .toBe("# Title\ntyped before reload");
    await page.close();
  });

  it("echo >> file in a shell shows up once; a deleted file can be saved again", async () => {
    const path = join(plus.home, "log.sh");
    await writeFile(path, "echo start\n");
    const page = await openFile("log.sh");
    await expect.poll(() => textOf(page), { timeout: 30_000 }).toContain("echo start");
    execFileSync("/bin/sh", ["-c", `echo 'echo appended' >> '${path}'`]);
    await expect.poll(() => textOf(page), { timeout: 30_000 }).toContain("echo appended");
    // The sign that the page and the service are done with that append: a later one shows up.
    execFileSync("/bin/sh", ["-c", `echo 'echo later' >> '${path}'`]);
    await expect.poll(() => textOf(page), { timeout: 30_000 }).toContain("echo later");
    await expect.poll(() => saveState(page), { timeout: 30_000 }).toBe("saved");
    expect((await textOf(page)).match(/echo appended/g)).toHaveLength(1);
    expect((await textOf(page)).match(/echo later/g)).toHaveLength(1);
    expect(await disk("log.sh")).toBe("echo start\necho appended\necho later\n");

    await unlink(path);
    await expect.poll(() => saveState(page), { timeout: 30_000 }).toBe("deleted");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/editor-deleted.png` });
    await page.getByTestId("save-again").click();
    await expect
      .poll(() => disk("log.sh").catch(() => ""), { timeout: 30_000 })
      .toBe("echo start\necho appended\necho later\n");
    await expect.poll(() => saveState(page), { timeout: 30_000 }).toBe("saved");
    await page.close();
  });

  it("history lists versions, shows a diff to now, and reverts", async () => {
    await writeFile(join(plus.home, "hist.txt"), "first version\n");
    const page = await openFile("hist.txt");
    await expect.poll(() => textOf(page), { timeout: 30_000 }).toContain("first version");
    await content(page).click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("second line\n");
    await expect.poll(() => saveState(page), { timeout: 30_000 }).toBe("saved");
    await page.getByTestId("history-toggle").click();
    const versions = page.getByTestId("history-version");
    await expect.poll(() => versions.count(), { timeout: 30_000 }).toBeGreaterThan(1);
    // The oldest version is the file as it was opened.
    await versions.last().click();
    await expect
      .poll(() => page.getByTestId("history-text").innerText(), { timeout: 30_000 })
      .toContain("second line");
    expect(await page.locator(".diff-ins").count()).toBeGreaterThan(0);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/editor-history.png` });
    await page.getByTestId("history-revert").click();
    await expect.poll(() => disk("hist.txt"), { timeout: 30_000 }).toBe("first version\n");
    await page.close();
  });

  it("history groups one author's sitting, apart from changes on disk, and names a version (kept in the stream)", async () => {
    await writeFile(join(plus.home, "grouped.txt"), "start\n");
    const page = await openFile("grouped.txt");
    await expect.poll(() => textOf(page), { timeout: 30_000 }).toContain("start");
    await content(page).click();
    await page.keyboard.press("Control+End");
    // Four short lines, each typed and stored on its own: many versions, one sitting.
    for (const line of ["one", "two", "three", "four"]) {
      await page.keyboard.type(`${line}\n`);
      await expect.poll(() => disk("grouped.txt"), { timeout: 30_000 }).toContain(line);
    }
    await expect.poll(() => saveState(page), { timeout: 30_000 }).toBe("saved");
    // A change on disk (a terminal, an agent) is its own group.
    await writeFile(join(plus.home, "grouped.txt"), `${await disk("grouped.txt")}from disk\n`);
    await expect.poll(() => textOf(page), { timeout: 30_000 }).toContain("from disk");
    await page.keyboard.press("Control+End");
    await page.keyboard.type("five\n");
    await expect.poll(() => disk("grouped.txt"), { timeout: 30_000 }).toContain("five");

    await page.getByTestId("history-toggle").click();
    const groups = page.getByTestId("history-group");
    await expect
      .poll(() => groups.evaluateAll((gs) => gs.map((g) => g.getAttribute("data-author"))), {
        timeout: 30_000,
      })
      .toEqual(["user", "disk", "user", "user"]);
    const total = Number((await page.getByTestId("history-count").innerText()).split(" ")[0]);
    const counts = await groups.evaluateAll((gs) => gs.map((g) => Number(g.dataset.count)));
    // The last group is the opening; the typing of four lines is one group of many versions.
    expect(counts[2]).toBeGreaterThan(3);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
    const versions = page.getByTestId("history-version");
    expect(await versions.count()).toBe(4);
    await groups.nth(2).getByTestId("history-group-toggle").click();
    await expect.poll(() => versions.count()).toBe(3 + counts[2]!);

    // Name the newest version of the four lines' sitting.
    const sitting = groups.nth(2).getByTestId("history-version").first();
    const seq = await sitting.getAttribute("data-seq");
    await sitting.click();
    await page.getByTestId("history-name-input").fill("four lines");
    await page.getByTestId("history-name-save").click();
    await expect
      .poll(() => groups.nth(2).getByTestId("history-name").first().textContent())
      .toBe("four lines");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/editor-history-groups.png` });
    // A control character is refused by the docs service, and the name stays.
    await page.getByTestId("history-name-input").fill("bad\tname");
    await page.getByTestId("history-name-save").click();
    await expect
      .poll(() => page.getByTestId("history-name-error").textContent(), { timeout: 30_000 })
      .toMatch(/control/);

    // Read again from the stream, on a page opened anew: the name is there.
    await page.close();
    const again = await openFile("grouped.txt");
    await again.getByTestId("history-toggle").click();
    await expect
      .poll(
        () =>
          again
            .locator(`[data-testid=history-version][data-seq="${seq}"]`)
            .getAttribute("data-name"),
        { timeout: 30_000 },
      )
      .toBe("four lines");
    await again.close();
  });

  it("a long history (2,000 patches) shows its newest page first without reading the rest; older pages follow", async () => {
    const run = JSON.parse(await readFile(join(plus.dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    const { servicesSeed } = JSON.parse(
      await readFile(join(plus.dataDir, "secrets.json"), "utf8"),
    ) as { servicesSeed: string };
    const nc = await connectServices({ url: run.natsUrl, seed: servicesSeed }, "e2e history");
    const path = join(plus.home, "long.txt");
    await writeFile(path, "start\n");
    let text = "start\n";
    /** The sequence of each version: 0 is the opening, i the patch that added line i. */
    const seqs: number[] = [];
    try {
      const opened = await docsCommand(nc, run.wsid, "OpenDocument", { path });
      if (!opened.ok) throw new Error(opened.error.message);
      seqs.push(opened.seqs[0]!);
      for (let i = 1; i <= 2000; i++) {
        const next = `${text}line ${i}\n`;
        const r = await docsCommand(nc, run.wsid, "PatchDocument", {
          path,
          base: seqs[i - 1],
          patch: makePatch(text, diffEdits(text, next)),
          client: "e2e-long",
          pid: `long-${i}`,
        });
        if (!r.ok) throw new Error(r.error.message);
        seqs.push(r.seqs[0]!);
        text = next;
      }
    } finally {
      await nc.close();
    }
    const page = await openFile("long.txt");
    // The editor draws only the lines in view.
    await expect.poll(() => textOf(page), { timeout: 30_000 }).toContain("line 1\n");
    await page.getByTestId("history-toggle").click();
    const versions = page.getByTestId("history-version");
    const count = page.getByTestId("history-count");
    // One author's patches in one sitting: the page's hundred versions are one group.
    await expect.poll(() => page.getByTestId("history-group").count(), { timeout: 30_000 }).toBe(1);
    expect(await page.getByTestId("history-group").getAttribute("data-count")).toBe("100");
    await page.getByTestId("history-group-toggle").click();
    await expect.poll(() => versions.count(), { timeout: 30_000 }).toBe(100);
    expect(await count.innerText()).toBe("2001 versions");
    // The newest first; read to show it: the patches since the newest snapshot (one every
    // 200) and a page or two before them, not the whole history.
    expect(await versions.first().getAttribute("data-seq")).toBe(String(seqs[2000]));
    expect(Number(await count.getAttribute("data-read"))).toBeLessThan(500);
    await versions.first().click();
    await page.getByText("Show text").click();
    await expect
      .poll(() => page.getByTestId("history-text").innerText(), { timeout: 30_000 })
      .toContain("line 2000");

    // The page before: the hundred versions before those, each with its own text.
    await page.getByTestId("history-older").click();
    await expect
      .poll(() => versions.first().getAttribute("data-seq"), { timeout: 30_000 })
      .toBe(String(seqs[1900]));
    await page.getByTestId("history-group-toggle").click();
    await expect.poll(() => versions.count(), { timeout: 30_000 }).toBe(100);
    expect(await versions.last().getAttribute("data-seq")).toBe(String(seqs[1801]));
    await versions.last().click();
    await expect
      .poll(() => page.getByTestId("history-text").innerText(), { timeout: 30_000 })
      .toMatch(/line 1801\s*$/);
    await page.close();
  });

  it("switching between open documents keeps each one's state and undo history", async () => {
    await writeFile(join(plus.home, "one.txt"), "one\n");
    await writeFile(join(plus.home, "two.txt"), "two\n");
    const page = await context.newPage();
    await page.goto(new URL("/files/#files", plus.url).toString());
    const openEntry = async (name: string) => {
      await page.getByTestId("tab-files").click();
      await page
        .locator(`[data-testid=file-row][data-name="${name}"] [data-testid=entry-name]`)
        .click();
    };
    const active = (p: Page) =>
      p.locator(".doc-slot[data-active=true] [data-testid=code-editor] .cm-content");
    await openEntry("one.txt");
    await expect.poll(() => active(page).innerText(), { timeout: 30_000 }).toContain("one");
    await active(page).click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("typed in one");
    await openEntry("two.txt");
    await expect.poll(() => active(page).innerText(), { timeout: 30_000 }).toContain("two");
    await page.locator('[data-testid=doc-tab][data-path$="/one.txt"] [role=tab]').click();
    await expect
      .poll(() => active(page).innerText(), { timeout: 30_000 })
      .toContain("typed in one");
    await active(page).click();
    for (let i = 0; i < 5; i++) await page.keyboard.press("Control+z");
    await expect.poll(() => disk("one.txt"), { timeout: 30_000 }).toBe("one\n");
    await page.close();
  });

  it("a binary file offers download instead", async () => {
    await writeFile(join(plus.home, "blob.bin"), Buffer.from([0, 1, 2, 3, 0, 255]));
    const page = await context.newPage();
    await page.goto(new URL("/files/blob.bin#editor", plus.url).toString());
    await page.getByTestId("doc-binary").waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("doc-binary").innerText()).toMatch(/download/i);
    await page.close();
  });
});
