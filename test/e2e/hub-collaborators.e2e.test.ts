/**
 * A hosted workspace shared in Chromium, with three accounts and the hub's own host (real
 * btrfs, podman): the owner adds a collaborator by email in the Share panel and invites a
 * viewer by link (the viewer signs in on the join page and lands in the workspace). The owner
 * edits a file and the collaborator sees it live; both use a terminal in the container
 * (whoami = the workspace user); the viewer sees both, with a read-only badge, and can neither
 * type nor edit; each sees the others present (the viewer too); the collaborator's dashboard lists it as shared; removed, the collaborator's
 * page says its access ended.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { hubFilesPaths } from "../../services/gateway/hub-files.js";
import { launchChromium } from "../helpers/browser.js";
import { hubBrowser, hubSignUp } from "../helpers/hub-browser.js";
import {
  editorOf,
  type HubPages,
  hubPages,
  hubPagesUnsupported,
  removeMember,
  terminalOfThree,
} from "../helpers/hub-pages.js";
import { type HubProcess, startHubProcess } from "../helpers/hub-process.js";
import { type HostMachine, setupHostMachine, TEST_PASSWORD } from "../helpers/launchpad.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const HOST = "hubcollab2";
const unsupported = await hubPagesUnsupported();
if (unsupported) console.warn(`hub collaborators e2e skipped: ${unsupported}`);

describe.skipIf(unsupported !== undefined)("a hosted workspace shared by three people", () => {
  let m: HostMachine;
  let hub: HubProcess;
  let browser: Browser;
  let pages: HubPages;
  const signedIn = (credential?: string) => pages.open(credential);

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    hub = await startHubProcess(m, HOST);
    browser = await launchChromium();
    pages = hubPages(browser, hub.base);
  }, 300_000);

  afterAll(async () => {
    await pages?.close();
    await browser?.close();
    await hub?.stop();
    await m?.cleanup();
  });

  it("owner, collaborator and viewer in one workspace", async () => {
    // Two more people have accounts (sign-up opened for them).
    const admin = await hubBrowser(hub.base, "admin@example.com");
    expect((await admin.api("POST", HUB_PATHS.signUpMode, { mode: "open" })).status).toBe(200);
    const bobCredential = (await hubSignUp(hub.base, "bob@example.com")).credential;
    await hubSignUp(hub.base, "vic@example.com");
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
    await editorOf(owner).waitFor({ timeout: 60_000 });
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
    await viewer.getByTestId("hub-password").fill(TEST_PASSWORD);
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
      .poll(() => editorOf(collaborator).textContent(), { timeout: 60_000 })
      .toContain("first line");
    await editorOf(owner).click();
    await owner.keyboard.press("Control+End");
    await owner.keyboard.type("the owner typed this");
    await expect
      .poll(() => editorOf(collaborator).textContent(), { timeout: 30_000 })
      .toContain("the owner typed this");
    // The viewer sees the same document and cannot edit it.
    await viewer.goto(`${hub.base}/ws/${hub.wsid}/files/note.txt#editor`);
    await expect
      .poll(() => editorOf(viewer).textContent(), { timeout: 60_000 })
      .toContain("the owner typed this");
    expect(await editorOf(viewer).getAttribute("contenteditable")).toBe("false");
    if (SHOTS) await viewer.screenshot({ path: `${SHOTS}/hub-viewer-editor.png` });

    // A terminal in the container for both; the viewer sees them and cannot type.
    await terminalOfThree({ owner, collaborator, viewer });
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
    await removeMember(owner, "collaborator");
    await collaborator.getByTestId("hub-ws-page-ended").waitFor({ timeout: 60_000 });
    if (SHOTS) await collaborator.screenshot({ path: `${SHOTS}/hub-access-ended.png` });
    await expect.poll(() => owner.getByTestId("hub-share-member").count()).toBe(2);
  });
});
