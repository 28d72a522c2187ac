/**
 * Proxied apps in Chromium against a real plus: Debian's jupyter-notebook behind `/port/<n>/`
 * (its page loads, its kernel's WebSocket connects and runs code), and the other-port attack:
 * once the browser holds an app's cookie, a page of another local port tries fetch, a form
 * POST, a framed navigation and a WebSocket at that app with the browser's cookies, and none of
 * them reaches it (while the same request from plus's own origin does).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { freePort } from "../../services/runtime/ports.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { until } from "../helpers/nats.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const JUPYTER = "/usr/bin/jupyter-notebook";
const HAVE_JUPYTER = existsSync(JUPYTER);
if (!HAVE_JUPYTER)
  console.warn(`skipping the Jupyter proxy test: no ${JUPYTER} (apt-get install jupyter-notebook)`);
if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

const NOTEBOOK = {
  cells: [
    { cell_type: "code", execution_count: null, metadata: {}, outputs: [], source: ["6 * 7"] },
  ],
  metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
  nbformat: 4,
  nbformat_minor: 5,
};

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("proxied apps in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  /** Opens app port `p` from plus's Apps tab (Open: a signed link in a new tab). */
  async function openApp(p: number, rest = ""): Promise<Page> {
    await page.goto(`${plus.url}#apps`);
    await page.fill('[data-testid="apps-port"]', String(p));
    const [tab] = await Promise.all([
      context.waitForEvent("page"),
      page.click('[data-testid="apps-open"]'),
    ]);
    await tab.waitForURL(
      (u) => u.pathname.startsWith(`/port/${p}/`) && !u.search.includes("token"),
    );
    await tab.waitForLoadState();
    if (process.env.E2E_SCREENSHOTS)
      await page.screenshot({ path: join(process.env.E2E_SCREENSHOTS, "proxy-apps-pane.png") });
    if (rest) await tab.goto(`${plus.url.replace(/\/$/, "")}/port/${p}/${rest}`);
    return tab;
  }

  beforeAll(async () => {
    plus = await startPlus();
    browser = await launchChromium();
    context = await browser.newContext();
    page = await context.newPage();
    await page.goto(plus.signInUrl);
    await page.waitForURL(plus.url);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="connection-state"]')?.textContent === "connected",
      undefined,
      { timeout: 30_000 },
    );
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  describe.skipIf(!HAVE_JUPYTER)("jupyter-notebook", () => {
    let jupyter: ChildProcess;
    let jport: number;
    let out = "";

    beforeAll(async () => {
      jport = await freePort();
      const dir = join(plus.home, "nb");
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "t.ipynb"), JSON.stringify(NOTEBOOK));
      jupyter = spawn(
        JUPYTER,
        [
          "--no-browser",
          "--ip=127.0.0.1",
          `--port=${jport}`,
          "--port-retries=0",
          "--NotebookApp.token=",
          "--NotebookApp.password=",
          `--NotebookApp.base_url=/port/${jport}/`,
          `--notebook-dir=${dir}`,
          // CI runs as root, which Jupyter refuses without this.
          ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
        ],
        {
          env: {
            PATH: "/usr/bin:/bin",
            HOME: plus.home,
            JUPYTER_CONFIG_DIR: join(plus.home, ".jupyter"),
            JUPYTER_RUNTIME_DIR: join(plus.home, ".jupyter-run"),
          },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      jupyter.stdout!.on("data", (d) => (out += d));
      jupyter.stderr!.on("data", (d) => (out += d));
      await until(
        "jupyter answers",
        async () => {
          if (jupyter.exitCode !== null) throw new Error(`jupyter exited with ${jupyter.exitCode}`);
          const r = await fetch(`http://127.0.0.1:${jport}/port/${jport}/api`).catch(
            () => undefined,
          );
          return r?.status === 200;
        },
        60_000,
      ).catch((err) => {
        throw new Error(`${(err as Error).message}\n${out}`);
      });
    });
    afterAll(async () => {
      if (jupyter && jupyter.exitCode === null) {
        const gone = new Promise((r) => jupyter.once("exit", r));
        jupyter.kill("SIGTERM");
        await gone;
      }
    });

    it("a notebook opens behind the proxy and its kernel runs code over the WebSocket", async () => {
      const tab = await openApp(jport, "notebooks/t.ipynb");
      expect(new URL(tab.url()).searchParams.has("token")).toBe(false);
      await tab.waitForFunction(
        () =>
          (
            window as unknown as {
              Jupyter?: { notebook?: { kernel?: { is_connected?: () => boolean } } };
            }
          ).Jupyter?.notebook?.kernel?.is_connected?.() === true,
        undefined,
        // Polled on a timer: a tab in the background gets no animation frames.
        { timeout: 90_000, polling: 250 },
      );
      // Run the cell as a person would; its output comes back over the kernel's WebSocket.
      await tab.evaluate(() =>
        (
          window as unknown as { Jupyter: { notebook: { execute_all_cells: () => void } } }
        ).Jupyter.notebook.execute_all_cells(),
      );
      await tab.waitForFunction(
        () => document.querySelector(".output_area .output_result")?.textContent?.trim() === "42",
        undefined,
        { timeout: 60_000, polling: 250 },
      );
      if (process.env.E2E_SCREENSHOTS)
        await tab.screenshot({ path: join(process.env.E2E_SCREENSHOTS, "proxy-jupyter.png") });
      await tab.close();
    });
  });

  describe("the other-port attack", () => {
    let app: Server;
    let appPort: number;
    let attacker: Server;
    let attackerPort: number;
    const reached: string[] = [];
    let report: Record<string, string> | undefined;

    beforeAll(async () => {
      appPort = await freePort();
      app = createServer((req, res) => {
        reached.push(`${req.method} ${req.url}`);
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("app");
      });
      const wss = new WebSocketServer({ server: app });
      wss.on("connection", (s, req) => {
        reached.push(`WS ${req.url}`);
        s.on("message", (m) => s.send(m.toString()));
      });
      await new Promise<void>((r) => app.listen(appPort, "127.0.0.1", r));

      attackerPort = await freePort();
      const target = `127.0.0.1:${plus.port}/port/${appPort}`;
      const html = `<!doctype html><body>
<iframe name="sink"></iframe><iframe id="nav"></iframe>
<form id="f" method="POST" action="http://${target}/attack-form" target="sink" enctype="text/plain"><input name="code" value="x"></form>
<script>
const out = {};
const step = (name, p) => p.then((v) => { out[name] = v; }, (e) => { out[name] = "error " + e; });
const frameLoad = (el, go) => new Promise((r) => { el.onload = () => r("loaded"); go(); });
Promise.all([
  step("fetch", fetch("http://${target}/attack-fetch", { credentials: "include", mode: "no-cors" }).then((r) => "opaque " + r.type)),
  step("post", fetch("http://${target}/attack-post", { method: "POST", credentials: "include", mode: "no-cors", body: "import os" }).then((r) => "opaque " + r.type)),
  step("form", frameLoad(document.querySelector('iframe[name=sink]'), () => document.getElementById("f").submit())),
  step("frame", frameLoad(document.getElementById("nav"), () => { document.getElementById("nav").src = "http://${target}/attack-nav"; })),
  step("ws", new Promise((r) => {
    const ws = new WebSocket("ws://${target}/attack-ws");
    ws.onopen = () => { ws.send("hi"); r("open"); };
    ws.onclose = (e) => r("closed " + e.code);
  })),
]).then(() => fetch("/report", { method: "POST", body: JSON.stringify(out) }));
</script></body>`;
      attacker = createServer((req, res) => {
        if (req.url === "/report") {
          let body = "";
          req.on("data", (d) => (body += d));
          req.on("end", () => {
            report = JSON.parse(body);
            res.end();
          });
          return;
        }
        res.writeHead(200, { "content-type": "text/html" });
        res.end(html);
      });
      await new Promise<void>((r) => attacker.listen(attackerPort, "127.0.0.1", r));
    });
    afterAll(async () => {
      await new Promise((r) => attacker?.close(r));
      app?.closeAllConnections();
      await new Promise((r) => app?.close(r));
    });

    it("a page of another local port cannot drive an app the browser has opened", async () => {
      const tab = await openApp(appPort);
      expect(await tab.textContent("body")).toBe("app");
      // The cookie is in the browser and plus's own origin can use it.
      const own = await page.evaluate(
        (p) => fetch(`/port/${p}/control`, { credentials: "include" }).then((r) => r.status),
        appPort,
      );
      expect(own).toBe(200);
      expect(reached).toContain(`GET /port/${appPort}/control`);

      const evil = await context.newPage();
      await evil.goto(`http://127.0.0.1:${attackerPort}/`);
      await until("the attacker's report", async () => report !== undefined, 30_000);
      expect(report!.ws).toMatch(/^closed/);
      expect(report!.form).toBe("loaded");
      expect(report!.frame).toBe("loaded");
      expect(reached.filter((r) => r.includes("attack"))).toEqual([]);
      await evil.close();
      await tab.close();
    });
  });
});
