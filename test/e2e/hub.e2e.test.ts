/**
 * The launchpad hub in Chromium, started the way an operator does (`cocalc-launchpad`): the
 * printed setup link makes the first admin; the admin's invite signs up a second person in
 * another browser; wrong passwords are refused in words; sign out, sign in again; signing out
 * everywhere ends that person's other browser, not the admin's.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { jwtAuthenticator, wsconnect } from "@nats-io/nats-core";
import { createUser } from "@nats-io/nkeys";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { freePortRange } from "../../services/runtime/ports.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { WEB_BUILT } from "../helpers/plus.js";

const LAUNCHPAD = new URL("../../dist/bundle/launchpad.js", import.meta.url).pathname;
const SHOTS = process.env.E2E_SCREENSHOTS;
if (!existsSync(LAUNCHPAD)) console.warn(`hub e2e skipped: no ${LAUNCHPAD} (npm run build)`);

/** A base port whose leaf port (base + 2) and hosts' port (base + 3) are free too. */
const hubPort = () => freePortRange([1, 2, 3]);

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT || !existsSync(LAUNCHPAD))(
  "the hub in Chromium",
  () => {
    let dir: string;
    let hub: ChildProcess;
    let out = "";
    let base: string;
    let setupUrl: string;
    let browser: Browser;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "cocalc-hub-e2e-"));
      const port = await hubPort();
      hub = spawn(
        process.execPath,
        [LAUNCHPAD, "--port", String(port), "--no-local-host", "--data-dir", join(dir, "hub")],
        {
          env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, "share") },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      hub.stdout!.on("data", (d) => (out += d));
      hub.stderr!.on("data", (d) => (out += d));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the hub did not start:\n${out}`)), 60_000);
        const check = () => {
          const m = /open (http:\/\/\S+\/setup\?token=\S+)/.exec(out);
          if (m && /hub ready: (\S+)/.test(out)) {
            clearTimeout(timer);
            setupUrl = m[1]!;
            base = /hub ready: (\S+)/.exec(out)![1]!.replace(/\/$/, "");
            resolve();
          }
        };
        hub.stdout!.on("data", check);
        hub.once("exit", (code) => reject(new Error(`the hub exited with ${code}:\n${out}`)));
      });
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
      if (hub && hub.exitCode === null) {
        const gone = new Promise((r) => hub.once("exit", r));
        hub.kill("SIGTERM");
        await gone;
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    async function fill(page: Page, fields: Record<string, string>) {
      for (const [name, value] of Object.entries(fields))
        await page.getByTestId(`hub-${name}`).fill(value);
    }

    it("setup link → admin; invite → a second person; sign in and out; everywhere", async () => {
      const adminContext = await browser.newContext();
      const admin = await adminContext.newPage();
      await admin.goto(setupUrl);
      await admin.getByTestId("hub-setup").waitFor({ timeout: 30_000 });
      if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-setup.png` });
      await fill(admin, { email: "admin@example.com", password: "short" });
      await admin.getByRole("button", { name: "Create the admin account" }).click();
      await expect
        .poll(() => admin.getByTestId("hub-problem").textContent())
        .toContain("at least 10");
      await fill(admin, { password: "the admin's long password" });
      await admin.getByRole("button", { name: "Create the admin account" }).click();
      await admin.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
      expect(admin.url()).toBe(`${base}/`);
      await expect
        .poll(() => admin.getByTestId("hub-who").textContent())
        .toContain("admin@example.com");
      expect(await admin.getByTestId("hub-who").textContent()).toContain("admin");
      // The setup link is spent.
      expect(out).toContain("the link works once");
      // The page's NATS key is WebCrypto's Ed25519 here (web/src/lib/page-key.ts).
      expect(
        await admin.evaluate(() =>
          crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]).then(
            () => true,
            () => false,
          ),
        ),
      ).toBe(true);

      await admin.getByTestId("hub-create-invite").click();
      const link = (await admin.getByTestId("hub-invite-link").textContent())!;
      expect(link).toMatch(/\/sign-up\?invite=/);
      if (SHOTS) await admin.screenshot({ path: `${SHOTS}/hub-dashboard.png` });

      // Another person, another browser.
      const bobContext = await browser.newContext();
      const bob = await bobContext.newPage();
      await bob.goto(link);
      await bob.getByTestId("hub-sign-up").waitFor({ timeout: 30_000 });
      await fill(bob, { email: "bob@example.com", password: "bob's own password" });
      await bob.getByRole("button", { name: "Create my account" }).click();
      await bob.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
      await expect.poll(() => bob.getByTestId("hub-who").textContent()).toBe("bob@example.com");
      expect(await bob.getByTestId("hub-admin").count()).toBe(0);
      // The invite was for one person.
      const eveContext = await browser.newContext();
      const eve = await eveContext.newPage();
      await eve.goto(link);
      await fill(eve, { email: "eve@example.com", password: "eve's own password" });
      await eve.getByRole("button", { name: "Create my account" }).click();
      await expect.poll(() => eve.getByTestId("hub-problem").textContent()).toContain("used up");

      // A second invite, valid a day, sent to the wrong person: the admin revokes it and its
      // link signs nobody up. The first one's row says it is used up.
      await admin.getByTestId("hub-invite-ttl").selectOption({ label: "1 day" });
      await admin.getByTestId("hub-create-invite").click();
      await expect.poll(() => admin.getByTestId("hub-invite-link").textContent()).not.toBe(link);
      const second = (await admin.getByTestId("hub-invite-link").textContent())!;
      const secondId = decodeURIComponent(second.split("invite=")[1]!).split(".")[0]!;
      const rows = admin.getByTestId("hub-invite-row");
      await expect.poll(() => rows.count()).toBe(2);
      const secondRow = admin.locator(`[data-testid="hub-invite-row"][data-invite="${secondId}"]`);
      expect(await secondRow.getAttribute("data-status")).toBe("open");
      expect(await rows.nth(1).getAttribute("data-status")).toBe("used-up");
      if (SHOTS)
        await admin.getByTestId("hub-admin").screenshot({ path: `${SHOTS}/hub-invites.png` });
      await secondRow.getByTestId("hub-invite-revoke").click();
      await expect.poll(() => secondRow.getAttribute("data-status")).toBe("revoked");
      expect(await secondRow.getByTestId("hub-invite-revoke").count()).toBe(0);
      await eve.goto(second);
      await eve.getByTestId("hub-sign-up").waitFor({ timeout: 30_000 });
      await fill(eve, { email: "eve@example.com", password: "eve's own password" });
      await eve.getByRole("button", { name: "Create my account" }).click();
      await expect.poll(() => eve.getByTestId("hub-problem").textContent()).toContain("not valid");
      await eveContext.close();

      // Sign out, a wrong password, then in again; and a second browser of bob's.
      await bob.getByTestId("hub-sign-out").click();
      await bob.getByTestId("hub-sign-in").waitFor({ timeout: 30_000 });
      await fill(bob, { email: "bob@example.com", password: "not bob's password" });
      await bob.getByRole("button", { name: "Sign in" }).click();
      await expect
        .poll(() => bob.getByTestId("hub-problem").textContent())
        .toBe("wrong email or password");
      await fill(bob, { password: "bob's own password" });
      await bob.getByRole("button", { name: "Sign in" }).click();
      await bob.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
      const bob2Context = await browser.newContext();
      const bob2 = await bob2Context.newPage();
      await bob2.goto(`${base}/`);
      await fill(bob2, { email: "bob@example.com", password: "bob's own password" });
      await bob2.getByRole("button", { name: "Sign in" }).click();
      await bob2.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });

      // A new password: a wrong current one is refused in words; the right one signs out
      // bob's other browser, not this one; the old password no longer signs in.
      await bob.getByTestId("hub-password-old").fill("not bob's password");
      await bob.getByTestId("hub-password-new").fill("bob's newer password");
      await bob.getByTestId("hub-password-change").click();
      await expect
        .poll(() => bob.getByTestId("hub-password-said").textContent())
        .toContain("current password is wrong");
      await bob.getByTestId("hub-password-old").fill("bob's own password");
      await bob.getByTestId("hub-password-change").click();
      await expect
        .poll(() => bob.getByTestId("hub-password-said").textContent())
        .toContain("Password changed");
      await bob2.reload();
      await bob2.getByTestId("hub-sign-in").waitFor({ timeout: 30_000 });
      await fill(bob2, { email: "bob@example.com", password: "bob's own password" });
      await bob2.getByRole("button", { name: "Sign in" }).click();
      await expect
        .poll(() => bob2.getByTestId("hub-problem").textContent())
        .toBe("wrong email or password");
      await fill(bob2, { password: "bob's newer password" });
      await bob2.getByRole("button", { name: "Sign in" }).click();
      await bob2.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
      await bob.reload();
      await bob.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });

      // Bob's signed-in browsers, live: a third sign-in shows by itself, newest first, and
      // signing it out from here ends that browser.
      const bobRows = bob.getByTestId("hub-session");
      await expect.poll(() => bobRows.count(), { timeout: 30_000 }).toBe(2);
      await expect
        .poll(() => bob.locator('[data-testid="hub-session"][data-current="yes"]').count())
        .toBe(1);
      const bob3Context = await browser.newContext();
      const bob3 = await bob3Context.newPage();
      await bob3.goto(`${base}/`);
      await fill(bob3, { email: "bob@example.com", password: "bob's newer password" });
      await bob3.getByRole("button", { name: "Sign in" }).click();
      await bob3.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
      await expect.poll(() => bobRows.count(), { timeout: 30_000 }).toBe(3);
      expect(await bobRows.first().getAttribute("data-current")).toBe("no");
      expect(await bobRows.first().textContent()).toContain("Chrome on Linux");
      if (SHOTS)
        await bob.getByTestId("hub-sessions").screenshot({ path: `${SHOTS}/hub-sessions.png` });
      await bobRows.first().getByTestId("hub-session-sign-out").click();
      await expect.poll(() => bobRows.count(), { timeout: 30_000 }).toBe(2);
      await bob3.reload();
      await bob3.getByTestId("hub-sign-in").waitFor({ timeout: 30_000 });
      await bob3Context.close();

      await bob.getByTestId("hub-sign-out-everywhere").click();
      await bob.getByTestId("hub-sign-in").waitFor({ timeout: 30_000 });
      // Bob's other browser is signed out; the admin is not.
      await bob2.reload();
      await bob2.getByTestId("hub-sign-in").waitFor({ timeout: 30_000 });
      await admin.reload();
      await admin.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
      await expect
        .poll(() => admin.getByTestId("hub-who").textContent())
        .toContain("admin@example.com");
      await Promise.all([adminContext.close(), bobContext.close(), bob2Context.close()]);
    });

    it("the operator at the console: list, create (password on stdin), disable (signed out at once), delete", async () => {
      const cli = (args: string[], input?: string) =>
        spawnSync(
          process.execPath,
          [LAUNCHPAD, "hub", "account", ...args, "--data-dir", join(dir, "hub")],
          {
            env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, "share") },
            encoding: "utf8",
            ...(input !== undefined && { input }),
            timeout: 60_000,
          },
        );
      const listed = cli(["list"]);
      expect(listed.status, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(/admin@example\.com\s+admin\s+active\s+setup/);
      expect(listed.stdout).toMatch(/bob@example\.com\s+user\s+active\s+invite/);
      const made = cli(["create", "carol@example.com"], "carol's long password\n");
      expect(made.status, made.stderr).toBe(0);
      expect(cli(["create", "carol@example.com"], "another password!\n").stderr).toContain(
        "ERR_HUB_EMAIL_TAKEN",
      );
      const signIn = (email: string, password: string) =>
        fetch(`${base}/api/hub/sign-in`, {
          method: "POST",
          headers: { "content-type": "application/json", origin: base },
          body: JSON.stringify({ email, password }),
        });
      expect((await signIn("carol@example.com", "carol's long password")).status).toBe(200);
      // Made an admin at the console, carol reaches the admin pages; made a user, not.
      const carol = (await (await signIn("carol@example.com", "carol's long password")).json()) as {
        credential: string;
      };
      const carolAdmin = async () =>
        (
          await fetch(`${base}/api/hub/admin/accounts`, {
            headers: { authorization: `Bearer ${carol.credential}` },
          })
        ).status;
      expect(await carolAdmin()).toBe(403);
      expect(cli(["admin", "carol@example.com"]).status).toBe(0);
      expect(cli(["list"]).stdout).toMatch(/carol@example\.com\s+admin\s+active\s+console/);
      expect(await carolAdmin()).toBe(200);
      expect(cli(["user", "carol@example.com"]).status).toBe(0);
      expect(await carolAdmin()).toBe(403);
      const bob = (await (await signIn("bob@example.com", "bob's newer password")).json()) as {
        credential: string;
      };
      const me = () =>
        fetch(`${base}/api/hub/me`, { headers: { authorization: `Bearer ${bob.credential}` } });
      expect((await me()).status).toBe(200);
      expect(cli(["disable", "bob@example.com"]).status).toBe(0);
      // Signed out at once, and refused from now on, in words.
      await expect.poll(async () => (await me()).status, { timeout: 30_000 }).toBe(401);
      const refused = await signIn("bob@example.com", "bob's newer password");
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { message: string }).message).toContain("disabled");
      expect(await carolAdmin()).toBe(403);
      expect(cli(["delete", "carol@example.com"]).status).toBe(0);
      // Her browser is signed out at once too.
      await expect.poll(carolAdmin, { timeout: 30_000 }).toBe(401);
      expect((await signIn("carol@example.com", "carol's long password")).status).toBe(401);
      expect(cli(["disable", "nobody@example.com"]).stderr).toContain("ERR_HUB_ACCOUNT_NOT_FOUND");
      expect(cli(["frobnicate"]).status).toBe(2);
    });

    it("reset links: the admin's Accounts makes one, the reset page sets a new password once and signs out the other browser; the console's works too", async () => {
      const cli = (args: string[], input?: string) =>
        spawnSync(
          process.execPath,
          [LAUNCHPAD, "hub", "account", ...args, "--data-dir", join(dir, "hub")],
          {
            env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, "share") },
            encoding: "utf8",
            ...(input !== undefined && { input }),
            timeout: 60_000,
          },
        );
      expect(cli(["create", "dora@example.com"], "dora's first password\n").status).toBe(0);
      const signInPage = async (email: string, password: string) => {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${base}/`);
        await fill(page, { email, password });
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
        return { context, page };
      };
      const admin = await signInPage("admin@example.com", "the admin's long password");
      const dora = await signInPage("dora@example.com", "dora's first password");

      await admin.page.getByTestId("hub-admin-search").fill("dora");
      const row = admin.page.locator(
        '[data-testid="hub-admin-account"][data-email="dora@example.com"]',
      );
      await row.getByTestId("hub-admin-reset-link").click();
      const link = (await admin.page.getByTestId("hub-reset-link").textContent())!;
      expect(link).toMatch(new RegExp(`^${base}/reset#[A-Za-z0-9_-]+\\.1\\.[A-Za-z0-9_-]{32}$`));
      if (SHOTS)
        await admin.page.screenshot({ path: `${SHOTS}/hub-reset-link.png`, fullPage: true });

      // The link in another browser: the secret leaves the address bar at once.
      const other = await browser.newContext();
      const reset = await other.newPage();
      await reset.goto(link);
      await reset.getByTestId("hub-reset").waitFor({ timeout: 30_000 });
      expect(reset.url()).toBe(`${base}/reset`);
      await fill(reset, { password: "dora's second password", "password-again": "something else" });
      await reset.getByRole("button", { name: "Set the password and sign in" }).click();
      await expect.poll(() => reset.getByTestId("hub-problem").textContent()).toContain("differ");
      await fill(reset, { "password-again": "dora's second password" });
      if (SHOTS) await reset.screenshot({ path: `${SHOTS}/hub-reset.png` });
      await reset.getByRole("button", { name: "Set the password and sign in" }).click();
      await reset.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });
      await expect.poll(() => reset.getByTestId("hub-who").textContent()).toBe("dora@example.com");
      // Dora's browser from before is signed out.
      await dora.page.reload();
      await dora.page.getByTestId("hub-sign-in").waitFor({ timeout: 30_000 });

      // A second use says so, and changes nothing.
      const again = await (await browser.newContext()).newPage();
      await again.goto(link);
      await fill(again, {
        password: "someone else's password",
        "password-again": "someone else's password",
      });
      await again.getByRole("button", { name: "Set the password and sign in" }).click();
      await expect
        .poll(() => again.getByTestId("hub-problem").textContent())
        .toContain("used already");
      if (SHOTS) await again.screenshot({ path: `${SHOTS}/hub-reset-used.png` });
      await fill(dora.page, { email: "dora@example.com", password: "dora's second password" });
      await dora.page.getByRole("button", { name: "Sign in" }).click();
      await dora.page.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });

      // The console's link, for the operator's terminal.
      const printed = cli(["reset", "dora@example.com", "--ttl", "10m"]);
      expect(printed.status, printed.stderr).toBe(0);
      const consoleLink = /(http\S+\/reset#\S+)/.exec(printed.stdout)![1]!;
      expect(consoleLink.startsWith(`${base}/reset#`)).toBe(true);
      expect(cli(["reset", "dora@example.com", "--ttl", "8d"]).status).toBe(2);
      const viaConsole = await (await browser.newContext()).newPage();
      await viaConsole.goto(consoleLink);
      await fill(viaConsole, {
        password: "dora's third password",
        "password-again": "dora's third password",
      });
      await viaConsole.getByRole("button", { name: "Set the password and sign in" }).click();
      await viaConsole.getByTestId("hub-dashboard").waitFor({ timeout: 30_000 });

      // The admin's activity page names who made each link.
      await admin.page.reload();
      const made = admin.page.locator('[data-testid="hub-activity"][data-type="ResetLinkCreated"]');
      await expect.poll(() => made.count(), { timeout: 30_000 }).toBe(2);
      expect(await made.nth(0).getAttribute("data-actor")).toBe("console");
      await expect
        .poll(() =>
          admin.page.locator('[data-testid="hub-activity"][data-type="PasswordReset"]').count(),
        )
        .toBe(2);
      await browser.contexts().reduce((p, c) => p.then(() => c.close()), Promise.resolve());
    });

    it("a signed-in browser's own NATS login: minted for its nkey, closed when it signs out", async () => {
      const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
        fetch(`${base}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", origin: base, ...headers },
          body: JSON.stringify(body),
        });
      const signedIn = await post("/api/hub/sign-in", {
        email: "admin@example.com",
        password: "the admin's long password",
      });
      expect(signedIn.status).toBe(200);
      const { credential } = (await signedIn.json()) as { credential: string };
      const auth = { authorization: `Bearer ${credential}` };
      const user = createUser();
      // The hub refuses what is not a user's public key, and mints for one.
      expect((await post("/api/hub/nats", { publicKey: "not a key" }, auth)).status).toBe(400);
      const minted = await post("/api/hub/nats", { publicKey: user.getPublicKey() }, auth);
      expect(minted.status).toBe(200);
      const login = (await minted.json()) as { jwt: string; inboxPrefix: string; natsPath: string };
      const nc = await wsconnect({
        servers: `${base.replace("http", "ws")}${login.natsPath}`,
        authenticator: jwtAuthenticator(login.jwt, user.getSeed()),
        inboxPrefix: login.inboxPrefix,
        reconnect: false,
        wsFactory: async (u: string) => ({
          socket: new WebSocket(u, ["cocalc.v1", `cocalc.auth.${credential}`], {
            headers: { origin: base },
          }) as unknown as globalThis.WebSocket,
          encrypted: false,
        }),
      });
      await nc.flush();
      const closed = nc.closed();
      expect((await post("/api/auth/sign-out", {}, auth)).status).toBe(200);
      // Signing out closes the socket and revokes the key: the connection ends.
      await closed;
      expect(nc.isClosed()).toBe(true);
    });
  },
);

describe.skipIf(!existsSync(LAUNCHPAD))("the hub off loopback", () => {
  it("serves HTTPS with a self-signed certificate whose fingerprint it prints; never plain HTTP", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cocalc-hub-tls-"));
    const port = await hubPort();
    const hub = spawn(
      process.execPath,
      [
        LAUNCHPAD,
        "--bind",
        "0.0.0.0",
        "--port",
        String(port),
        "--no-local-host",
        "--data-dir",
        join(dir, "hub"),
      ],
      { env: { ...process.env, HOME: dir }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    hub.stdout!.on("data", (d) => (out += d));
    hub.stderr!.on("data", (d) => (out += d));
    try {
      await new Promise<void>((resolve, reject) => {
        const check = () => /hub ready: https:/.test(out) && resolve();
        hub.stdout!.on("data", check);
        hub.once("exit", (code) => reject(new Error(`the hub exited with ${code}:\n${out}`)));
      });
      const printed = /certificate SHA-256 (\S+)/.exec(out)![1]!;
      const seen = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          { host: "127.0.0.1", port, path: "/healthz", rejectUnauthorized: false },
          (res) => {
            const cert = (res.socket as TLSSocket).getPeerX509Certificate();
            res.resume();
            resolve(cert?.fingerprint256 ?? "");
          },
        );
        req.on("error", reject);
        req.end();
      });
      expect(seen).toBe(printed);
      // The key is the hub's alone.
      expect((statSync(join(dir, "hub", "tls", "key.pem")).mode & 0o777).toString(8)).toBe("600");
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    } finally {
      const gone = new Promise((r) => hub.once("exit", r));
      hub.kill("SIGTERM");
      await gone;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
