import { mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropFiles, HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;

const rowNames = (page: Page) =>
  page
    .locator("[data-testid=file-row]")
    .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-name")));

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("files in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    plus = await startPlus();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    // "Copy path" writes the clipboard; the test reads it back.
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: plus.url });
    // Sign in once; every page of the context shares the origin's stored credential.
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

  async function open(path: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(new URL(path, plus.url).toString());
    return page;
  }

  async function waitDir(page: Page, dir: string): Promise<void> {
    await expect
      .poll(
        () =>
          page
            .getByTestId("explorer")
            .evaluate((e) => [e.getAttribute("data-dir"), e.getAttribute("data-phase")]),
        { timeout: 30_000 },
      )
      .toEqual([dir, "ready"]);
  }

  it("drag and drop of a file and a folder: progress, then the entries in a second tab, live", async () => {
    const target = join(plus.home, "drop");
    await mkdir(join(target, "inbox"), { recursive: true });
    const a = await open("/files/drop");
    const b = await open("/files/drop");
    await a.bringToFront();
    await waitDir(a, target);
    await waitDir(b, target);
    // Watch the progress bars while they run.
    await a.evaluate(() => {
      const w = window as unknown as { progress: string[] };
      w.progress = [];
      new MutationObserver(() => {
        for (const bar of Array.from(
          document.querySelectorAll('[data-testid="upload-progress"]'),
        )) {
          w.progress.push(bar.getAttribute("aria-valuenow") ?? "");
        }
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await dropFiles(a, "[data-testid=explorer]", [
      { path: "big.bin", size: 48 * 1024 * 1024 },
      { path: "album/one.txt", size: 10 },
      { path: "album/nested/deeper/two.txt", size: 20 },
    ]);
    await expect.poll(() => a.getByTestId("upload-item").count(), { timeout: 30_000 }).toBe(3);
    await expect
      .poll(
        () =>
          a
            .getByTestId("upload-item")
            .evaluateAll((items) => items.every((i) => i.getAttribute("data-status") === "done")),
        { timeout: 60_000 },
      )
      .toBe(true);
    const seen = await a.evaluate(() => (window as unknown as { progress: string[] }).progress);
    expect(seen).toContain("100");
    if (SHOTS) await a.screenshot({ path: `${SHOTS}/files-uploaded.png` });
    // The second tab never reloaded: the change feed brought the entries.
    await expect
      .poll(() => rowNames(b), { timeout: 10_000 })
      .toEqual(expect.arrayContaining(["album", "big.bin", "inbox"]));
    expect((await stat(join(target, "big.bin"))).size).toBe(48 * 1024 * 1024);
    expect(await readFile(join(target, "album/nested/deeper/two.txt"), "utf8")).toBe(
      "a".repeat(20),
    );
    expect((await readdir(target)).filter((n) => n.startsWith(".cocalc-upload-"))).toEqual([]);

    // Dropped onto a folder row, files go into that folder.
    await dropFiles(a, '[data-testid=file-row][data-name="inbox"]', [
      { path: "letter.txt", size: 5 },
    ]);
    await expect
      .poll(async () => readdir(join(target, "inbox")).catch(() => []), { timeout: 30_000 })
      .toEqual(["letter.txt"]);

    // Dropping an existing name asks; "keep both" keeps both.
    await dropFiles(a, "[data-testid=explorer]", [{ path: "album/one.txt", size: 3 }]);
    await a.getByTestId("upload-conflict").waitFor({ timeout: 30_000 });
    if (SHOTS) await a.screenshot({ path: `${SHOTS}/files-conflict.png` });
    await a.getByTestId("conflict-keep").click();
    await expect.poll(() => rowNames(b), { timeout: 30_000 }).toContain("album (1)");
    await a.close();
    await b.close();
  });

  it("a real folder dragged from the desktop keeps its tree, empty folders included", async () => {
    // Chromium's own drag and drop (DevTools Input.dispatchDragEvent) with files on disk: the
    // page gets file system entries, as from a desktop, not a synthesised list of files.
    const desktop = join(plus.home, "desktop");
    await mkdir(join(desktop, "project/src"), { recursive: true });
    await mkdir(join(desktop, "project/empty"));
    await writeFile(join(desktop, "project/README.md"), "# project");
    await writeFile(join(desktop, "project/src/main.py"), "print(1)");
    await writeFile(join(desktop, "single.txt"), "single");
    const target = join(plus.home, "real-drop");
    await mkdir(target);
    const page = await open("/files/real-drop");
    await page.bringToFront();
    await waitDir(page, target);
    const box = (await page.getByTestId("explorer").boundingBox())!;
    const cdp = await context.newCDPSession(page);
    const data = {
      items: [],
      files: [join(desktop, "project"), join(desktop, "single.txt")],
      dragOperationsMask: 1,
    };
    for (const type of ["dragEnter", "dragOver", "drop"] as const) {
      await cdp.send("Input.dispatchDragEvent", {
        type,
        x: box.x + box.width / 2,
        y: box.y + box.height / 2,
        data,
      });
    }
    await cdp.detach();
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toEqual(["project", "single.txt"]);
    await expect
      .poll(() => readFile(join(target, "project/src/main.py"), "utf8").catch(() => ""), {
        timeout: 30_000,
      })
      .toBe("print(1)");
    expect(await readFile(join(target, "project/README.md"), "utf8")).toBe("# project");
    expect((await stat(join(target, "project/empty"))).isDirectory()).toBe(true);
    expect(await readFile(join(target, "single.txt"), "utf8")).toBe("single");
    await page.close();
  });

  it("a folder of 400 files uploads with only the rows in view rendered", async () => {
    const target = join(plus.home, "many");
    await mkdir(target, { recursive: true });
    const a = await open("/files/many");
    await waitDir(a, target);
    const n = 400;
    await dropFiles(
      a,
      "[data-testid=explorer]",
      Array.from({ length: n }, (_, i) => ({ path: `lots/f${i}.txt`, size: 1 })),
    );
    await expect
      .poll(() => a.getByTestId("uploads").locator(".uploads-header > span").textContent(), {
        timeout: 120_000,
      })
      .toBe(`${n} uploaded`);
    expect(await a.getByTestId("upload-item").count()).toBeLessThan(100);
    expect((await readdir(join(target, "lots"))).length).toBe(n);
    await a.close();
  });

  it("an upload can be cancelled and leaves nothing", async () => {
    const target = join(plus.home, "cancel");
    await mkdir(target);
    const page = await open("/files/cancel");
    await waitDir(page, target);
    // Slow the upload down so there is time to press cancel.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 2 * 1024 * 1024,
    });
    await dropFiles(page, "[data-testid=explorer]", [{ path: "slow.bin", size: 64 * 1024 * 1024 }]);
    await page
      .locator('[data-testid=upload-item][data-status="uploading"]')
      .waitFor({ timeout: 30_000 });
    await page.getByTestId("upload-cancel").click();
    await page
      .locator('[data-testid=upload-item][data-status="cancelled"]')
      .waitFor({ timeout: 30_000 });
    await expect.poll(() => readdir(target), { timeout: 30_000 }).toEqual([]);
    await cdp.detach();
    await page.close();
  });

  it("deep links: /etc/hosts opens, survives a reload, and back/forward walk the history", async () => {
    const page = await open("/fs/etc/hosts");
    await expect
      .poll(() => page.locator("[data-testid=code-editor] .cm-content").innerText(), {
        timeout: 30_000,
      })
      .toContain("localhost");
    expect(page.url()).toMatch(/\/fs\/etc\/hosts#editor$/);
    await page.reload();
    await expect
      .poll(() => page.locator("[data-testid=code-editor] .cm-content").innerText(), {
        timeout: 30_000,
      })
      .toContain("localhost");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/files-hosts.png` });

    await page.goto(new URL("/fs/etc", plus.url).toString());
    await waitDir(page, "/etc");
    await page.getByTestId("filter").fill("host");
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toContain("hosts");
    await page.getByTestId("filter").fill("");
    await page.getByTestId("go-up").click();
    await waitDir(page, "/");
    expect(new URL(page.url()).pathname).toBe("/fs/");
    await page.goBack();
    await waitDir(page, "/etc");
    expect(new URL(page.url()).pathname).toBe("/fs/etc");
    await page.goForward();
    await waitDir(page, "/");
    // A path inside home has one canonical URL: /fs/<home>/x becomes /files/x.
    await mkdir(join(plus.home, "canon"));
    await page.goto(new URL(`/fs${plus.home}/canon`, plus.url).toString());
    await waitDir(page, join(plus.home, "canon"));
    expect(new URL(page.url()).pathname).toBe("/files/canon");
    await page.close();
  });

  it("Back from a file shows the folder it was opened from, Forward the file again; Back from a tab goes to the tab before", async () => {
    await mkdir(join(plus.home, "nav"), { recursive: true });
    await writeFile(join(plus.home, "nav", "notes.txt"), "navigation\n");
    const page = await open("/files/nav");
    await waitDir(page, join(plus.home, "nav"));
    const shown = () =>
      page.evaluate(() =>
        Array.from(document.querySelectorAll("[data-testid^=pane-]"))
          .filter((e) => !(e as HTMLElement).hidden)
          .map((e) => e.getAttribute("data-testid")),
      );
    await page
      .locator('[data-testid=file-row][data-name="notes.txt"] [data-testid=entry-name]')
      .click();
    await expect.poll(shown, { timeout: 30_000 }).toEqual(["pane-editor"]);
    await page.goBack();
    await expect.poll(shown, { timeout: 30_000 }).toEqual(["pane-files"]);
    await waitDir(page, join(plus.home, "nav"));
    await page.goForward();
    await expect.poll(shown, { timeout: 30_000 }).toEqual(["pane-editor"]);
    await expect
      .poll(() => page.locator("[data-testid=code-editor] .cm-content").innerText())
      .toContain("navigation");
    // Views are steps of the history too.
    await page.getByTestId("tab-terminals").click();
    await expect.poll(shown).toEqual(["pane-terminals"]);
    await page.getByTestId("tab-settings").click();
    await expect.poll(shown).toEqual(["pane-settings"]);
    await page.goBack();
    await expect.poll(shown).toEqual(["pane-terminals"]);
    await page.goBack();
    await expect.poll(shown).toEqual(["pane-editor"]);
    await page.goForward();
    await expect.poll(shown).toEqual(["pane-terminals"]);
    await page.close();
  });

  it("open editor tabs and the active one survive a reload; a sign-in link keeps its #view", async () => {
    await mkdir(join(plus.home, "kept"), { recursive: true });
    for (const n of ["a.txt", "b.txt", "c.txt"]) await writeFile(join(plus.home, "kept", n), n);
    const page = await open("/files/kept");
    await waitDir(page, join(plus.home, "kept"));
    for (const n of ["a.txt", "b.txt", "c.txt"]) {
      await page
        .locator(`[data-testid=file-row][data-name="${n}"] [data-testid=entry-name]`)
        .click();
      await page.locator(`[data-testid=doc-tab][data-path$="/kept/${n}"]`).waitFor();
      await page.getByTestId("tab-files").click();
    }
    const tabs = () =>
      page
        .getByTestId("doc-tab")
        .evaluateAll((els) =>
          els.map(
            (e) =>
              `${e.getAttribute("data-path")?.split("/").pop()}${e.getAttribute("data-active") ? "*" : ""}`,
          ),
        );
    await page.getByTestId("tab-editor").click();
    await page.locator('[data-testid=doc-tab][data-path$="/kept/b.txt"] [role=tab]').click();
    await expect.poll(tabs).toEqual(["a.txt", "b.txt*", "c.txt"]);
    await page.reload();
    await page.getByTestId("tab-editor").click();
    await expect.poll(tabs, { timeout: 30_000 }).toEqual(["a.txt", "b.txt*", "c.txt"]);
    await expect
      .poll(
        () =>
          page.locator('[data-testid=doc-body][data-path$="/kept/b.txt"] .cm-content').innerText(),
        { timeout: 30_000 },
      )
      .toContain("b.txt");
    // Closing one is kept too.
    await page
      .locator('[data-testid=doc-tab][data-path$="/kept/a.txt"] [data-testid=doc-tab-close]')
      .click();
    await page.reload();
    await page.getByTestId("tab-editor").click();
    await expect.poll(tabs, { timeout: 30_000 }).toEqual(["b.txt*", "c.txt"]);
    await page.close();

    // A sign-in link with a view after it (?token=…#terminals) lands on that view.
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const p = await fresh.newPage();
      await p.goto(`${plus.signInUrl}#terminals`);
      await p.getByTestId("pane-terminals").waitFor({ state: "visible", timeout: 30_000 });
      expect(new URL(p.url()).hash).toBe("#terminals");
      expect(p.url()).not.toContain("token=");
    } finally {
      await fresh.close();
    }
  });

  it("ln -s / ~/.root: opening .root shows the root directory; error tabs can be closed", async () => {
    await symlink("/", join(plus.home, ".root"));
    const page = await open("/files/");
    await waitDir(page, plus.home);
    if (!(await page.getByTestId("show-hidden").isChecked()))
      await page.getByTestId("show-hidden").click();
    await page
      .locator('[data-testid=file-row][data-name=".root"] [data-testid=entry-name]')
      .click();
    await waitDir(page, "/");
    expect(new URL(page.url()).pathname).toBe("/fs/");
    await expect.poll(() => rowNames(page)).toEqual(expect.arrayContaining(["etc", "tmp"]));
    expect(await page.getByTestId("breadcrumb").getAttribute("data-path")).toBe("/");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/files-root.png` });
    await page.locator('[data-testid=file-row][data-name="tmp"] [data-testid=entry-name]').click();
    await waitDir(page, "/tmp");

    // A file that cannot be read: a clear error in place, and its tab closes.
    const unreadable = process.getuid?.() === 0 ? "/proc/self/mem" : join(plus.home, "secret.txt");
    if (process.getuid?.() !== 0) await writeFile(unreadable, "x", { mode: 0o000 });
    await page.goto(new URL(`/fs${unreadable}`, plus.url).toString());
    const tab = page.locator("[data-testid=doc-tab]");
    await expect
      .poll(() => page.getByTestId("doc-error").textContent(), { timeout: 30_000 })
      .toMatch(/cannot open/i);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/files-unreadable.png` });
    await page.getByTestId("doc-tab-close").click();
    await expect.poll(() => tab.count()).toBe(0);
    await page.close();
  });

  it("new folder, rename in place and delete round trip to the disk", async () => {
    const dir = join(plus.home, "ops");
    await mkdir(dir);
    const page = await open("/files/ops");
    const other = await open("/files/ops");
    // Chromium throttles timers of the tab in the background; act in the front one.
    await page.bringToFront();
    await waitDir(page, dir);
    await page.getByTestId("new-folder").click();
    await page.getByTestId("new-folder-dialog-input").fill("made here");
    await page.getByTestId("new-folder-dialog-submit").click();
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toEqual(["made here"]);
    expect((await stat(join(dir, "made here"))).isDirectory()).toBe(true);

    await page
      .locator('[data-testid=file-row][data-name="made here"] input[type=checkbox]')
      .check();
    await page.getByTestId("action-rename").click();
    const input = page.getByTestId("rename-input");
    await input.fill("renamed");
    await input.press("Enter");
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toEqual(["renamed"]);
    await expect.poll(() => readdir(dir)).toEqual(["renamed"]);
    await expect.poll(() => rowNames(other), { timeout: 10_000 }).toEqual(["renamed"]);

    await page.locator('[data-testid=file-row][data-name="renamed"] input[type=checkbox]').check();
    await page.getByTestId("action-delete").click();
    await page.getByTestId("delete-dialog-confirm").click();
    await expect.poll(() => readdir(dir), { timeout: 30_000 }).toEqual([]);
    await page.getByTestId("empty-dir").waitFor({ timeout: 30_000 });
    await other.getByTestId("empty-dir").waitFor({ timeout: 10_000 });

    // Copy and move through their dialogs; downloads of a file and of a folder (as tar).
    await mkdir(join(dir, "box"));
    await writeFile(join(dir, "note.txt"), "note");
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toEqual(["box", "note.txt"]);
    await page.locator('[data-testid=file-row][data-name="note.txt"] input[type=checkbox]').check();
    const fileDownload = page.waitForEvent("download");
    await page.getByTestId("action-download").click();
    const got = await fileDownload;
    expect(got.suggestedFilename()).toBe("note.txt");
    expect(await readFile((await got.path())!, "utf8")).toBe("note");
    // A copy into the same folder gets a new name; then that copy moves into box.
    await page.getByTestId("action-copy").click();
    await page.getByTestId("copy-dialog-submit").click();
    await expect
      .poll(() => rowNames(page), { timeout: 30_000 })
      .toEqual(["box", "note (copy).txt", "note.txt"]);
    await page
      .locator('[data-testid=file-row][data-name="note.txt"] input[type=checkbox]')
      .uncheck();
    await page
      .locator('[data-testid=file-row][data-name="note (copy).txt"] input[type=checkbox]')
      .check();
    await page.getByTestId("action-move").click();
    // The destination is chosen in the folder picker.
    await page.locator('[data-testid=move-dialog-folder][data-name="box"]').click();
    await expect
      .poll(() => page.getByTestId("move-dialog-path").getAttribute("data-path"))
      .toBe(join(dir, "box"));
    await page.getByTestId("move-dialog-submit").click();
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toEqual(["box", "note.txt"]);
    expect(await readdir(join(dir, "box"))).toEqual(["note (copy).txt"]);
    await page
      .locator('[data-testid=file-row][data-name="note.txt"] input[type=checkbox]')
      .uncheck();
    await page.locator('[data-testid=file-row][data-name="box"] input[type=checkbox]').check();
    const folderDownload = page.waitForEvent("download");
    await page.getByTestId("action-download").click();
    expect((await folderDownload).suggestedFilename()).toBe("box.tar");
    await page.locator('[data-testid=file-row][data-name="note.txt"] input[type=checkbox]').check();
    await page.getByTestId("action-delete").click();
    await page.getByTestId("delete-dialog-confirm").click();
    await expect.poll(() => readdir(dir), { timeout: 30_000 }).toEqual([]);

    // A change made outside the browser (a terminal, an agent) shows up too.
    await writeFile(join(dir, "from-outside.txt"), "hello");
    await expect.poll(() => rowNames(page), { timeout: 10_000 }).toEqual(["from-outside.txt"]);
    await page.close();
    await other.close();
  });

  /** A name as a CSS string: quotes and backslashes escaped, control characters as `\a `. */
  const cssString = (name: string) =>
    Array.from(name, (ch) => {
      const c = ch.codePointAt(0)!;
      if (c < 0x20 || c === 0x7f) return `\\${c.toString(16)} `;
      return ch === '"' || ch === "\\" ? `\\${ch}` : ch;
    }).join("");
  const row = (page: Page, name: string) =>
    page.locator(`[data-testid=file-row][data-name="${cssString(name)}"]`);
  async function menu(page: Page, name: string, action: string): Promise<void> {
    await row(page, name).locator("[data-testid=entry-name]").click({ button: "right" });
    await page.locator(`[data-testid=context-menu] [data-action="${action}"]`).click();
    await page.getByTestId("context-menu").waitFor({ state: "detached" });
  }

  it("the right-click menu: rename, duplicate, move through the folder picker, copy path, download, delete", async () => {
    const dir = join(plus.home, "menu");
    await mkdir(join(dir, "box/inner"), { recursive: true });
    await writeFile(join(dir, "note.txt"), "note");
    const page = await open("/files/menu");
    await page.bringToFront();
    await waitDir(page, dir);

    await row(page, "note.txt").locator("[data-testid=entry-name]").click({ button: "right" });
    const items = page.locator("[data-testid=context-menu] [data-action]");
    expect(await items.evaluateAll((b) => b.map((x) => x.getAttribute("data-action")))).toEqual([
      "open",
      "open-tab",
      "rename",
      "duplicate",
      "move",
      "copy",
      "copy-path",
      "download",
      "delete",
    ]);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "files-context-menu.png") });
    await page.keyboard.press("Escape");
    await page.getByTestId("context-menu").waitFor({ state: "detached" });

    await menu(page, "note.txt", "rename");
    await page.getByTestId("rename-input").fill("renamed.txt");
    await page.getByTestId("rename-input").press("Enter");
    await expect.poll(() => readdir(dir), { timeout: 30_000 }).toEqual(["box", "renamed.txt"]);

    await menu(page, "renamed.txt", "duplicate");
    await expect
      .poll(() => rowNames(page), { timeout: 30_000 })
      .toEqual(["box", "renamed (copy).txt", "renamed.txt"]);
    expect(await readFile(join(dir, "renamed (copy).txt"), "utf8")).toBe("note");

    // Move: the picker opens here, enters box, then box/inner, goes up once, and moves into box.
    await menu(page, "renamed (copy).txt", "move");
    const picker = page.getByTestId("move-dialog");
    const pickerPath = () => page.getByTestId("move-dialog-path").getAttribute("data-path");
    await expect.poll(pickerPath).toBe(dir);
    await picker.locator('[data-testid=move-dialog-folder][data-name="box"]').click();
    await expect.poll(pickerPath).toBe(join(dir, "box"));
    await picker.locator('[data-testid=move-dialog-folder][data-name="inner"]').click();
    await expect.poll(pickerPath).toBe(join(dir, "box/inner"));
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "files-folder-picker.png") });
    await page.getByTestId("move-dialog-up").click();
    await expect.poll(pickerPath).toBe(join(dir, "box"));
    await page.getByTestId("move-dialog-submit").click();
    await picker.waitFor({ state: "detached" });
    await expect
      .poll(() => readdir(join(dir, "box")), { timeout: 30_000 })
      .toEqual(["inner", "renamed (copy).txt"]);
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toEqual(["box", "renamed.txt"]);

    // Copy to: a typed path in the picker.
    await menu(page, "renamed.txt", "copy");
    await page.getByTestId("copy-dialog-input").fill("~/menu/box/inner");
    await page.getByTestId("copy-dialog-input").press("Enter");
    await expect
      .poll(() => page.getByTestId("copy-dialog-path").getAttribute("data-path"))
      .toBe(join(dir, "box/inner"));
    await page.getByTestId("copy-dialog-submit").click();
    await expect
      .poll(() => readdir(join(dir, "box/inner")), { timeout: 30_000 })
      .toEqual(["renamed.txt"]);

    await menu(page, "renamed.txt", "copy-path");
    await page.getByTestId("files-notice").waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(
      join(dir, "renamed.txt"),
    );

    const download = page.waitForEvent("download");
    await menu(page, "renamed.txt", "download");
    const got = await download;
    expect(got.suggestedFilename()).toBe("renamed.txt");
    expect(await readFile((await got.path())!, "utf8")).toBe("note");

    await menu(page, "renamed.txt", "delete");
    await page.getByTestId("delete-dialog-confirm").click();
    await expect.poll(() => readdir(dir), { timeout: 30_000 }).toEqual(["box"]);
    await page.close();
  });

  it("file names are links: href without the token, middle-click and 'open in a new tab' open the file; a new file opens in the editor", async () => {
    const dir = join(plus.home, "links");
    await mkdir(join(dir, "sub"), { recursive: true });
    await writeFile(join(dir, "linked.md"), "# linked file");
    const page = await open("/files/links");
    await page.bringToFront();
    await waitDir(page, dir);
    const link = row(page, "linked.md").locator("[data-testid=entry-name]");
    expect(await link.getAttribute("href")).toBe("/files/links/linked.md#editor");
    expect(await row(page, "sub").locator("a").getAttribute("href")).toBe("/files/links/sub#files");
    expect(page.url()).not.toContain("token");
    // A hostile name is one encoded component of its link, and opens as itself.
    const hostile = 'a "b" <img src=x>#?%.txt';
    await writeFile(join(dir, hostile), "hostile content");
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toContain(hostile);
    const hostileLink = row(page, hostile).locator("[data-testid=entry-name]");
    expect(await hostileLink.getAttribute("href")).toBe(
      `/files/links/${encodeURIComponent(hostile)}#editor`,
    );
    expect(await page.locator("img[src=x]").count()).toBe(0);
    const hostileTab = context.waitForEvent("page");
    await hostileLink.click({ modifiers: ["Control"] });
    const ht = await hostileTab;
    await expect
      .poll(
        () =>
          ht
            .locator("[data-testid=code-editor] .cm-content")
            .innerText()
            .catch(() => ""),
        { timeout: 30_000 },
      )
      .toContain("hostile content");
    await ht.close();

    const editorText = (p: Page) => p.locator("[data-testid=code-editor] .cm-content").innerText();
    const middle = context.waitForEvent("page");
    await link.click({ button: "middle" });
    const tab = await middle;
    await expect
      .poll(() => editorText(tab).catch(() => ""), { timeout: 30_000 })
      .toContain("# linked file");
    expect(new URL(tab.url()).pathname).toBe("/files/links/linked.md");
    // The page it was opened from stayed where it was.
    expect(new URL(page.url()).pathname).toBe("/files/links");
    await tab.close();

    const opened = context.waitForEvent("page");
    await menu(page, "sub", "open-tab");
    const folderTab = await opened;
    await waitDir(folderTab, join(dir, "sub"));
    await folderTab.close();

    // A new file opens in the editor, with its own address.
    await page.getByTestId("new-file").click();
    await page.getByTestId("new-file-dialog-input").fill("fresh.py");
    await page.getByTestId("new-file-dialog-submit").click();
    await expect
      .poll(() => new URL(page.url()).pathname + new URL(page.url()).hash, { timeout: 30_000 })
      .toBe("/files/links/fresh.py#editor");
    await page.locator("[data-testid=code-editor] .cm-content").click();
    await page.keyboard.type("print('fresh')");
    await expect
      .poll(() => readFile(join(dir, "fresh.py"), "utf8"), { timeout: 30_000 })
      .toBe("print('fresh')");
    await page.close();
  });

  it("the folder picker pages a folder of 350 folders; the menu key opens the menu on the selection", async () => {
    const dir = join(plus.home, "many-folders");
    await mkdir(dir);
    await Promise.all(
      Array.from({ length: 350 }, (_, i) => mkdir(join(dir, `d${String(i).padStart(3, "0")}`))),
    );
    await writeFile(join(dir, "a-file.txt"), "x");
    const page = await open("/files/many-folders");
    await page.bringToFront();
    await waitDir(page, dir);
    // The file comes after the 350 folders: the filter brings it into view.
    await page.getByTestId("filter").fill("a-file");
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toEqual(["a-file.txt"]);
    await row(page, "a-file.txt").locator("input[type=checkbox]").check();
    await page.getByTestId("file-list").focus();
    await page.keyboard.press("Shift+F10");
    await page.locator('[data-testid=context-menu] [data-action="move"]').click();
    const folders = page.getByTestId("move-dialog-folder");
    await expect.poll(() => folders.count(), { timeout: 30_000 }).toBe(300);
    await page.getByTestId("move-dialog-more").click();
    await expect.poll(() => folders.count(), { timeout: 30_000 }).toBe(350);
    // Only folders, and no more button once the files begin.
    expect(await page.getByTestId("move-dialog-more").count()).toBe(0);
    await page.locator('[data-testid=move-dialog-folder][data-name="d349"]').click();
    await page.getByTestId("move-dialog-submit").click();
    await expect
      .poll(() => readdir(join(dir, "d349")), { timeout: 30_000 })
      .toEqual(["a-file.txt"]);
    await page.close();
  });

  it("drag and drop moves entries onto a folder row and onto a step of the path", async () => {
    const dir = join(plus.home, "dnd");
    await mkdir(join(dir, "target"), { recursive: true });
    await writeFile(join(dir, "one.txt"), "1");
    await writeFile(join(dir, "two.txt"), "2");
    await writeFile(join(dir, "three.txt"), "3");
    const page = await open("/files/dnd");
    await page.bringToFront();
    await waitDir(page, dir);
    await row(page, "one.txt").dragTo(row(page, "target"));
    await expect.poll(() => readdir(join(dir, "target")), { timeout: 30_000 }).toEqual(["one.txt"]);
    await expect
      .poll(() => rowNames(page), { timeout: 30_000 })
      .toEqual(["target", "three.txt", "two.txt"]);
    // Two selected entries go together.
    await row(page, "two.txt").locator("input[type=checkbox]").check();
    await row(page, "three.txt").locator("input[type=checkbox]").check();
    await row(page, "two.txt").dragTo(row(page, "target"));
    await expect
      .poll(() => readdir(join(dir, "target")), { timeout: 30_000 })
      .toEqual(["one.txt", "three.txt", "two.txt"]);
    // The list has settled (the rows that moved are gone) before a row is clicked.
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toEqual(["target"]);
    // From inside target, onto the breadcrumb's "dnd": back up one level.
    await row(page, "target").locator("[data-testid=entry-name]").click();
    await waitDir(page, join(dir, "target"));
    await row(page, "one.txt").dragTo(page.locator(`[data-testid=crumb][data-path="${dir}"]`));
    await expect.poll(() => readdir(dir), { timeout: 30_000 }).toEqual(["one.txt", "target"]);
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toEqual(["three.txt", "two.txt"]);
    await page.close();
  });

  it("a name with a newline or another control character is refused with ERR_FS_NAME, in an upload and a rename", async () => {
    const dir = join(plus.home, "names");
    await mkdir(dir);
    await writeFile(join(dir, "plain.txt"), "plain");
    const page = await open("/files/names");
    await page.bringToFront();
    await waitDir(page, dir);
    await dropFiles(page, "[data-testid=explorer]", [{ path: "bad\nname.txt", size: 4 }]);
    const failed = page.locator("[data-testid=upload-item][data-status=error]");
    await failed.waitFor({ timeout: 30_000 });
    expect(await failed.getByTestId("upload-error").getAttribute("data-code")).toBe("ERR_FS_NAME");
    expect(await failed.getByTestId("upload-error").textContent()).toMatch(/newline/);
    await expect
      .poll(() => page.getByTestId("uploads-count").textContent())
      .toBe("0 uploaded, 1 failed");
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "files-bad-name.png") });
    expect(await readdir(dir)).toEqual(["plain.txt"]);

    // A rename in place goes to the server as typed: a tab in the name is refused there.
    await row(page, "plain.txt").locator("input[type=checkbox]").check();
    await page.keyboard.press("F2");
    await page.getByTestId("rename-input").fill("plain\tname.txt");
    await page.getByTestId("rename-input").press("Enter");
    await expect
      .poll(() => page.getByTestId("action-error").getAttribute("data-code"), { timeout: 30_000 })
      .toBe("ERR_FS_NAME");
    expect(await readdir(dir)).toEqual(["plain.txt"]);
    // A file made elsewhere with a newline in its name shows it, and is renamed to a good one.
    await writeFile(join(dir, "made\noutside.txt"), "outside");
    await expect.poll(() => rowNames(page), { timeout: 30_000 }).toContain("made\noutside.txt");
    expect(await row(page, "made\noutside.txt").getByTestId("entry-name").textContent()).toBe(
      "made\u240aoutside.txt",
    );
    await menu(page, "made\noutside.txt", "rename");
    await page.getByTestId("rename-input").fill("made-outside.txt");
    await page.getByTestId("rename-input").press("Enter");
    await expect
      .poll(() => readdir(dir), { timeout: 30_000 })
      .toEqual(["made-outside.txt", "plain.txt"]);
    await row(page, "made-outside.txt").waitFor({ timeout: 30_000 });
    // The new-file dialog says so before asking.
    await page.getByTestId("new-file").click();
    await page.getByTestId("new-file-dialog-input").fill("...");
    await page.getByTestId("new-file-dialog-submit").click();
    expect(await page.getByTestId("new-file-dialog-error").textContent()).toMatch(/only dots/);
    await page.keyboard.press("Escape");
    expect(await readdir(dir)).toEqual(["made-outside.txt", "plain.txt"]);
    await page.close();
  });

  it("outside home a home button leads back; the uploads counter counts up", async () => {
    const page = await open("/fs/etc");
    await page.bringToFront();
    await waitDir(page, "/etc");
    await page.getByTestId("go-home").click();
    await waitDir(page, plus.home);
    expect(await page.getByTestId("go-home").count()).toBe(0);
    const dir = join(plus.home, "counted");
    await mkdir(dir);
    await page.goto(new URL("/files/counted", plus.url).toString());
    await waitDir(page, dir);
    await page.evaluate(() => {
      const w = window as unknown as { counts: string[] };
      w.counts = [];
      new MutationObserver(() => {
        const c = document.querySelector('[data-testid="uploads-count"]');
        const v = c?.getAttribute("data-done");
        if (v && w.counts.at(-1) !== v) w.counts.push(v);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    const n = 30;
    await dropFiles(
      page,
      "[data-testid=explorer]",
      Array.from({ length: n }, (_, i) => ({ path: `c${i}.txt`, size: 1 })),
    );
    await expect
      .poll(() => page.getByTestId("uploads-count").textContent(), { timeout: 60_000 })
      .toBe(`${n} uploaded`);
    const counts = (
      await page.evaluate(() => (window as unknown as { counts: string[] }).counts)
    ).map(Number);
    expect(counts.at(-1)).toBe(n);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    await page.close();
  });

  it("select all in a big folder selects every entry, loaded or not, and deletes them in batches", async () => {
    const dir = join(plus.home, "big-select");
    await mkdir(dir);
    const n = 2500;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        writeFile(join(dir, `f${String(i).padStart(5, "0")}`), ""),
      ),
    );
    const page = await open("/files/big-select");
    await waitDir(page, dir);
    await page.getByTestId("select-all").click();
    await expect
      .poll(() => page.locator(".selection-count").textContent(), { timeout: 30_000 })
      .toBe(`${n} selected`);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "files-select-all.png") });
    await page.getByTestId("action-delete").click();
    await page.getByTestId("delete-dialog-confirm").click();
    await expect.poll(() => readdir(dir), { timeout: 60_000 }).toEqual([]);
    await page.getByTestId("empty-dir").waitFor({ timeout: 30_000 });
    await page.close();
  });
});
