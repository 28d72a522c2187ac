/**
 * A hosted workspace shared in Chromium, with three accounts and the hub's own host (real
 * btrfs, podman): the owner adds a collaborator by email in the Share panel and invites a
 * viewer by link (the viewer signs in on the join page and lands in the workspace). The owner
 * edits a file and the collaborator sees it live; both use a terminal in the container
 * (whoami = the workspace user); the viewer sees both, with a read-only badge, and can neither
 * type nor edit; each sees the others present (the viewer too); the collaborator's dashboard lists it as shared; removed, the collaborator's
 * page says its access ended.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubFilesPaths } from "../../services/gateway/hub-files.js";
import { HAVE_CHROMIUM, launchChromium, terminalScreen } from "../helpers/browser.js";
import { type HubProcess, startHubProcess } from "../helpers/hub-process.js";
import { type HostMachine, hostUnsupported, setupHostMachine } from "../helpers/launchpad.js";
import { WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const HOST = "hubcollab2";
const unsupported =
  (await hostUnsupported()) ??
  (!HAVE_CHROMIUM ? "no Chromium" : undefined) ??
  (!WEB_BUILT ? "not built (npm run build)" : undefined);
if (unsupported) console.warn(`hub collaborators e2e skipped: ${unsupported}`);

const PASSWORD = "a long enough password";

describe.skipIf(unsupported !== undefined)("a hosted workspace shared by three people", () => {
  let m: HostMachine;
  let hub: HubProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  /** A browser signed in with `credential` (kept in the hub origin's storage). */
  const signedIn = async (credential?: string) => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(ctx);
    if (credential)
      await ctx.addInitScript(
        ([origin, c]) => {
          if (location.origin === origin) localStorage.setItem("cocalc-plus.credential", c!);
        },
        [hub.base, credential],
      );
    return ctx.newPage();
  };
  const post = async (path: string, body: unknown, credential = hub.credential) => {
    const res = await fetch(`${hub.base}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        origin: hub.base,
        authorization: `Bearer ${credential}`,
      },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    expect(res.status, String(json.message)).toBe(200);
    return json;
  };
  const signUp = async (email: string) => {
    const res = await fetch(`${hub.base}/api/hub/sign-up`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: hub.base },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { credential: string }).credential;
  };
  const editor = (page: Page) => page.locator("[data-testid=code-editor] .cm-content");
  const openTerminals = async (page: Page) => {
    await page.getByTestId("tab-terminals").click();
    await expect
      .poll(() => page.getByTestId("terminal-state").textContent(), { timeout: 60_000 })
      .toBe("running");
  };
  const typeInTerminal = async (page: Page, text: string) => {
    await page.locator('[data-testid="terminal-screen"] .xterm-screen').click();
    await page.keyboard.type(text);
  };

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    hub = await startHubProcess(m, HOST);
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await hub?.stop();
    await m?.cleanup();
  });

  it("owner, collaborator and viewer in one workspace", async () => {
    // Two more people have accounts (sign-up opened for them).
    await post("/api/hub/sign-up-mode", { mode: "open" });
    const bobCredential = await signUp("bob@example.com");
    await signUp("vic@example.com");
    const note = await fetch(
      `${hub.base}${hubFilesPaths(hub.wsid).upload}?${new URLSearchParams({ dir: "~", name: "note.txt" })}`,
      {
        method: "PUT",
        headers: hub.headers({ "content-type": "application/octet-stream" }),
        body: "first line\n",
      },
    );
    expect(note.status).toBe(201);

    // The owner shares: bob by email as a collaborator, an invite link for a viewer.
    const owner = await signedIn(hub.credential);
    await owner.goto(`${hub.base}/ws/${hub.wsid}/files/note.txt#editor`);
    await editor(owner).waitFor({ timeout: 60_000 });
    await owner.getByTestId("hub-ws-share").click();
    await owner.getByTestId("hub-share-email").fill("bob@example.com");
    await owner.getByTestId("hub-share-add-role").selectOption("collaborator");
    await owner.getByTestId("hub-share-add-submit").click();
    await owner
      .locator('[data-testid="hub-share-member"][data-role="collaborator"]')
      .waitFor({ timeout: 30_000 });
    await owner.getByTestId("hub-share-invite-role").selectOption("viewer");
    await owner.getByTestId("hub-share-invite").click();
    const link = (await owner.getByTestId("hub-share-link").textContent())!;
    expect(link).toMatch(new RegExp(`^${hub.base}/join#[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
    await owner.getByTestId("hub-share-open-invite").waitFor({ timeout: 30_000 });
    if (SHOTS) await owner.screenshot({ path: `${SHOTS}/hub-share-panel.png` });
    await owner.getByTestId("hub-share-close").click();

    // The viewer opens the link signed out, signs in, and lands in the workspace, read-only.
    const viewer = await signedIn();
    await viewer.goto(link);
    await viewer.getByTestId("hub-join-sign-in").waitFor({ timeout: 30_000 });
    expect(viewer.url()).toBe(`${hub.base}/join`);
    if (SHOTS) await viewer.screenshot({ path: `${SHOTS}/hub-join.png` });
    await viewer.getByTestId("hub-email").fill("vic@example.com");
    await viewer.getByTestId("hub-password").fill(PASSWORD);
    await viewer.getByRole("button", { name: "Sign in" }).click();
    await viewer.waitForURL(`**/ws/${hub.wsid}/`, { timeout: 30_000 });
    await viewer.getByTestId("hub-ws-readonly").waitFor({ timeout: 60_000 });
    // The link worked once: the owner's panel no longer lists it.
    await owner.getByTestId("hub-ws-share").click();
    await expect.poll(() => owner.getByTestId("hub-share-open-invite").count()).toBe(0);
    await expect.poll(() => owner.getByTestId("hub-share-member").count()).toBe(3);
    await owner.getByTestId("hub-share-close").click();

    // The collaborator's dashboard lists it as shared, with its role.
    const collaborator = await signedIn(bobCredential);
    await collaborator.goto(`${hub.base}/`);
    const sharedRow = collaborator
      .getByTestId("hub-ws-shared-list")
      .locator(`[data-testid="hub-ws"][data-wsid="${hub.wsid}"]`);
    await sharedRow.waitFor({ timeout: 30_000 });
    expect(await sharedRow.getByTestId("hub-ws-my-role").textContent()).toBe("collaborator");
    expect(await sharedRow.getByTestId("hub-ws-delete").count()).toBe(0);
    if (SHOTS) await collaborator.screenshot({ path: `${SHOTS}/hub-shared-with-me.png` });

    // The owner edits; the collaborator sees it live.
    await collaborator.goto(`${hub.base}/ws/${hub.wsid}/files/note.txt#editor`);
    await expect
      .poll(() => editor(collaborator).textContent(), { timeout: 60_000 })
      .toContain("first line");
    await editor(owner).click();
    await owner.keyboard.press("Control+End");
    await owner.keyboard.type("the owner typed this");
    await expect
      .poll(() => editor(collaborator).textContent(), { timeout: 30_000 })
      .toContain("the owner typed this");
    // The viewer sees the same document and cannot edit it.
    await viewer.goto(`${hub.base}/ws/${hub.wsid}/files/note.txt#editor`);
    await expect
      .poll(() => editor(viewer).textContent(), { timeout: 60_000 })
      .toContain("the owner typed this");
    expect(await editor(viewer).getAttribute("contenteditable")).toBe("false");
    if (SHOTS) await viewer.screenshot({ path: `${SHOTS}/hub-viewer-editor.png` });

    // A terminal in the container for both; the viewer sees them and cannot type.
    await owner.getByTestId("tab-terminals").click();
    await owner.getByTestId("terminal-new-empty").click();
    await openTerminals(owner);
    await typeInTerminal(owner, "echo owner=$(whoami)\n");
    await expect.poll(() => terminalScreen(owner), { timeout: 30_000 }).toContain("owner=user");
    await openTerminals(collaborator);
    await typeInTerminal(collaborator, "echo collaborator=$(whoami)\n");
    await expect
      .poll(() => terminalScreen(owner), { timeout: 30_000 })
      .toContain("collaborator=user");
    await openTerminals(viewer);
    await expect
      .poll(() => terminalScreen(viewer), { timeout: 30_000 })
      .toContain("collaborator=user");
    await typeInTerminal(viewer, "echo viewer-typed\n");
    // Once what the owner types next is on the viewer's screen, what it typed would be too.
    await typeInTerminal(owner, "echo owner-after\n");
    await expect.poll(() => terminalScreen(viewer), { timeout: 30_000 }).toContain("owner-after");
    expect(await terminalScreen(viewer)).not.toContain("viewer-typed");
    if (SHOTS) await viewer.screenshot({ path: `${SHOTS}/hub-viewer-terminal.png` });

    // Everyone is there for the others, the viewer too: by account name, in the top bar.
    const present = (page: Page) =>
      page
        .locator('[data-testid="workspace-presence"] [data-testid="presence-avatar"]')
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-name")));
    await expect.poll(() => present(owner), { timeout: 60_000 }).toEqual(["bob", "vic"]);
    await expect.poll(() => present(viewer), { timeout: 60_000 }).toContain("bob");
    if (SHOTS) await owner.screenshot({ path: `${SHOTS}/hub-presence.png` });

    // Removed: the collaborator's page says its access ended.
    await owner.getByTestId("hub-ws-share").click();
    await owner
      .locator('[data-testid="hub-share-member"][data-role="collaborator"]')
      .getByTestId("hub-share-remove")
      .click();
    await collaborator.getByTestId("hub-ws-page-ended").waitFor({ timeout: 60_000 });
    if (SHOTS) await collaborator.screenshot({ path: `${SHOTS}/hub-access-ended.png` });
    await expect.poll(() => owner.getByTestId("hub-share-member").count()).toBe(2);
  });
});
