/**
 * A workspace on a joined second host (its own process and nats-server on loopback, joined
 * over the hub's leaf listener; the hub runs no host of its own), shared by three accounts
 * and used in Chromium through the hub. The owner edits a file and the collaborator sees it
 * live; a terminal in the container works for both (whoami = the workspace user); the viewer
 * sees both and is refused on edit, upload, terminal input and agent prompt, in its page and
 * with its own NATS login used directly; a notebook's cell runs on a kernel in the container
 * (as the workspace user) and all three see its output; 200 files uploaded into the container workspace; the
 * host stops → every page says so → the host is back → the pages go on; a collaborator the
 * owner removes in the Share panel loses access.
 */
import { execFile } from "node:child_process";
import { access, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { NatsConnection } from "@nats-io/nats-core";
import { createUser } from "@nats-io/nkeys";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { hubFilesPaths } from "../../services/gateway/hub-files.js";
import { hubSharePaths } from "../../services/gateway/hub-workspaces.js";
import { workspacePaths } from "../../services/host/index.js";
import { readerNames } from "../../shared/hub-permissions.js";
import { containerName } from "../../shared/launchpad.js";
import { emptyNotebook, newCell, serializeNotebook } from "../../shared/notebook.js";
import { workspaceSubjects } from "../../shared/subjects.js";
import { launchChromium, terminalScreen } from "../helpers/browser.js";
import { type HubBrowser, hubBrowser, hubSignUp } from "../helpers/hub-browser.js";
import {
  editorOf,
  type HubPages,
  hubPages,
  hubPagesUnsupported,
  openFiles,
  openTerminals,
  removeMember,
  terminalOfThree,
  typeInTerminal,
  uploadBatch,
} from "../helpers/hub-pages.js";
import { type HubProcess, startHubProcess } from "../helpers/hub-process.js";
import {
  addPython,
  type HostMachine,
  pythonUnsupported,
  setupHostMachine,
} from "../helpers/launchpad.js";
import { publishOutcome, viewerChanges, watchViolations } from "../helpers/nats-permissions.js";

const run = promisify(execFile);
const SHOTS = process.env.E2E_SCREENSHOTS;
const HOST = "sharedjoin3";
const N = 200;
const HOME = "/home/user";
const unsupported = await hubPagesUnsupported();
if (unsupported) console.warn(`shared workspace on a joined host e2e skipped: ${unsupported}`);
const noPython = await pythonUnsupported();
if (noPython)
  console.warn(`the notebook of a shared workspace on a joined host skipped: ${noPython}`);

describe.skipIf(unsupported !== undefined)(
  "a workspace on a joined host, shared by three people",
  () => {
    let m: HostMachine;
    let hub: HubProcess;
    let browser: Browser;
    let pages: HubPages;
    let admin: HubBrowser;
    let bob: HubBrowser;
    let vic: HubBrowser;
    let owner: Page;
    let collaborator: Page;
    let viewer: Page;
    const open: NatsConnection[] = [];
    const ids: Record<string, string> = {};

    const shot = async (page: Page, name: string) => {
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/shared-joined-${name}.png` });
    };
    const at = (path = "") => `${hub.base}/ws/${hub.wsid}/${path}`;
    const upload = (who: HubBrowser, name: string, body: string) =>
      fetch(
        `${hub.base}${hubFilesPaths(hub.wsid).upload}?${new URLSearchParams({ dir: "~", name })}`,
        {
          method: "PUT",
          headers: {
            authorization: `Bearer ${who.credential}`,
            origin: hub.base,
            "content-type": "application/octet-stream",
          },
          body,
        },
      );
    const home = () => workspacePaths(m.root, hub.wsid).home;
    const nbCell = (page: Page, id: string) =>
      page.locator(`[data-testid=nb-cell][data-id="${id}"]`);
    const row = (page: Page, name: string) =>
      page.locator(`[data-testid=file-row][data-name="${name}"]`);

    beforeAll(async () => {
      m = await setupHostMachine(HOST, 2048);
      // Beats come every 5 s: a host unheard for 10 s is offline.
      hub = await startHubProcess(m, HOST, {
        joined: true,
        offlineAfter: "10s",
        agent: true,
        ...(noPython === undefined && { prepareImage: addPython }),
      });
      admin = await hubBrowser(hub.base, "admin@example.com");
      expect((await admin.api("POST", HUB_PATHS.signUpMode, { mode: "open" })).status).toBe(200);
      bob = await hubSignUp(hub.base, "bob@example.com");
      vic = await hubSignUp(hub.base, "vic@example.com");
      for (const [who, role] of [
        ["bob", "collaborator"],
        ["vic", "viewer"],
      ]) {
        const res = await admin.api("POST", hubSharePaths(hub.wsid).members, {
          email: `${who}@example.com`,
          role,
        });
        expect(res.status).toBe(200);
        ids[who!] = ((await res.json()) as { member: { account: string } }).member.account;
      }
      expect((await upload(admin, "note.txt", "first line\n")).status).toBe(201);
      const chat = `${JSON.stringify({ type: "cocalc-chat", v: 1 })}\n`;
      expect((await upload(admin, "talk.chat", chat)).status).toBe(201);
      const nb = emptyNotebook();
      nb.metadata = JSON.stringify({
        kernelspec: { name: "python3", display_name: "Python 3", language: "python" },
      });
      nb.cells = [
        newCell("code", "import os; print('uid', os.getuid(), 'in', os.getcwd())", "c-who", true),
      ];
      expect((await upload(admin, "calc.ipynb", serializeNotebook(nb))).status).toBe(201);
      browser = await launchChromium();
      pages = hubPages(browser, hub.base);
      owner = await pages.open(admin.credential);
      collaborator = await pages.open(bob.credential);
      viewer = await pages.open(vic.credential);
    }, 300_000);

    afterAll(async () => {
      for (const nc of open) await nc.close().catch(() => undefined);
      await pages?.close();
      await browser?.close();
      await hub?.stop();
      await m?.cleanup();
    });

    it("the owner edits a file and the collaborator sees it live; the viewer sees it and cannot edit", async () => {
      // The hub runs no host of its own: the workspace is on the joined one.
      expect(hub.host).toBeDefined();
      expect(await readdir(home())).toContain("note.txt");
      for (const page of [owner, collaborator, viewer]) {
        await page.goto(at("files/note.txt#editor"));
        await expect
          .poll(() => editorOf(page).textContent(), { timeout: 60_000 })
          .toContain("first line");
      }
      await editorOf(owner).click();
      await owner.keyboard.press("Control+End");
      await owner.keyboard.type("the owner typed this");
      for (const page of [collaborator, viewer])
        await expect
          .poll(() => editorOf(page).textContent(), { timeout: 30_000 })
          .toContain("the owner typed this");
      await viewer.getByTestId("hub-ws-readonly").waitFor();
      expect(await editorOf(viewer).getAttribute("contenteditable")).toBe("false");
      await shot(collaborator, "collaborator-editor");
      await shot(viewer, "viewer-editor");
    });

    it("a terminal in the container for both, as the workspace user; the viewer sees it and cannot type", async () => {
      await terminalOfThree({ owner, collaborator, viewer });
      await shot(owner, "owner-terminal");
      await shot(viewer, "viewer-terminal");
    });

    it("the viewer's own NATS login reads and is refused every change; its upload over HTTP too", async () => {
      const tid = (await owner.getByTestId("terminal").getAttribute("data-tid"))!;
      const c = await vic.connect(hub.wsid);
      open.push(c.nc);
      watchViolations(c.nc);
      const [membership] = c.login.memberships;
      expect(membership).toMatchObject({ wsid: hub.wsid, role: "viewer", hostId: HOST });
      const ws = workspaceSubjects(hub.wsid);
      const read = await c.nc.request(
        ws.read("fs"),
        JSON.stringify({ op: "read", path: `${HOME}/note.txt` }),
        { timeout: 20_000 },
      );
      expect(read.json()).toMatchObject({
        ok: true,
        result: { content: expect.stringContaining("the owner typed this") },
      });
      const changes = viewerChanges(hub.wsid, tid, {
        api: `$JS.${membership!.jsDomain}.API`,
        reader: readerNames(c.key.getPublicKey())[1]!,
        account: ids.vic!,
      });
      for (const [subject, body] of changes)
        expect([subject, await publishOutcome(c.nc, subject, JSON.stringify(body))]).toEqual([
          subject,
          "denied",
        ]);
      const up = await upload(vic, "by-viewer.txt", "x");
      expect(up.status).toBe(403);
      expect(await up.json()).toMatchObject({ code: "ERR_HUB_FORBIDDEN" });
      await expect(access(join(home(), "by-viewer.txt"))).rejects.toThrow();
      await c.nc.close();
    });

    it("the agents pane: the owner makes a thread, the viewer follows it with the composer off", async () => {
      await owner.goto(at("files/talk.chat"));
      await owner.getByTestId("new-thread").click({ timeout: 60_000 });
      await owner.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
      expect(await owner.getByTestId("composer-input").isEnabled()).toBe(true);
      await viewer.goto(at("files/talk.chat"));
      await expect
        .poll(() => viewer.getByTestId("thread-list").getAttribute("data-count"), {
          timeout: 60_000,
        })
        .toBe("1");
      await viewer.getByTestId("thread").click();
      await viewer.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
      expect(await viewer.getByTestId("composer-input").isDisabled()).toBe(true);
      expect(await viewer.getByTestId("submit").isDisabled()).toBe(true);
      expect(await viewer.getByTestId("new-thread").count()).toBe(0);
      expect(await viewer.getByTestId("thread-settings-toggle").count()).toBe(0);
      await shot(viewer, "viewer-agents");
    });

    it("a turn of the owner's and one of the collaborator's, each named by who submitted it", async () => {
      // The owner's turn and the collaborator's, each named on every page by who submitted it.
      await owner.getByTestId("thread-settings-toggle").click();
      const form = owner.getByTestId("thread-settings");
      await form.locator("select").first().selectOption("custom");
      await owner.getByTestId("agent-command").fill(hub.agentCommand!);
      await form.locator("select").nth(1).selectOption("full-access");
      await owner.getByTestId("save-settings").click();
      await expect.poll(() => owner.locator(".agents-summary").textContent()).toContain("custom");
      await owner.getByTestId("composer-input").fill("a prompt from the owner");
      await owner.getByTestId("submit").click();
      await collaborator.goto(at("files/talk.chat"));
      await collaborator.getByTestId("thread").click({ timeout: 60_000 });
      await collaborator.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
      await collaborator.getByTestId("composer-input").fill("a prompt from the collaborator");
      await collaborator.getByTestId("submit").click();
      for (const page of [owner, collaborator, viewer]) {
        await expect
          .poll(() => page.locator('[data-testid="turn"][data-status="finished"]').count(), {
            timeout: 120_000,
          })
          .toBe(2);
        expect(
          await page.getByTestId("turn-by").evaluateAll((els) => els.map((e) => e.dataset.name)),
        ).toEqual(["admin", "bob"]);
      }
      // The viewer, reloaded, reads the finished turns' snapshots from the joined host.
      await expect
        .poll(
          async () => {
            await viewer.reload();
            const logs = viewer.locator('[data-testid="turn-log"][data-source]');
            await expect.poll(() => logs.count(), { timeout: 30_000 }).toBe(2);
            return logs.evaluateAll((els) => els.map((e) => e.dataset.source));
          },
          { timeout: 90_000 },
        )
        .toEqual(["snapshot", "snapshot"]);
      await shot(viewer, "viewer-turns");
    }, 300_000);

    it("the owner signs the thread's agent in with its own flow: it runs in the container on the joined host, and the pasted callback is opened there", async () => {
      await owner.getByTestId("thread-settings-toggle").click();
      await owner.getByTestId("agent-command").fill(`${hub.agentCommand!} --sign-in`);
      await owner.getByTestId("save-settings").click();
      await owner.getByTestId("composer-input").fill("say ready to sign in");
      await owner.getByTestId("submit").click();
      await expect
        .poll(() => owner.locator('[data-testid="turn"][data-status="finished"]').count(), {
          timeout: 120_000,
        })
        .toBe(3);
      await owner.getByTestId("sign-in-toggle").click();
      await owner.getByTestId("sign-in-browser").click();
      const link = owner.getByTestId("sign-in-url");
      await link.waitFor({ timeout: 60_000 });
      const href = (await link.getAttribute("href")) ?? "";
      expect(href).toMatch(/^https:\/\/auth\.example\.test\/authorize\?/);
      await shot(owner, "owner-agent-sign-in");
      // The browser would end on the agent's localhost page, which does not load here: pasted.
      const back = new URL(new URL(href).searchParams.get("redirect_uri")!);
      await owner
        .getByTestId("sign-in-callback")
        .fill(`${back.origin}${back.pathname}?code=from-the-page`);
      await owner.getByTestId("sign-in-panel").getByRole("button", { name: "Send" }).click();
      await owner.getByTestId("sign-in-done").waitFor({ timeout: 30_000 });
      await shot(owner, "owner-agent-signed-in");
      // The agent kept its login in the workspace's home, on the joined host.
      expect(await readFile(join(home(), ".scripted-agent-login"), "utf8")).toBe(
        "code from-the-page\n",
      );
    }, 180_000);

    it("200 files uploaded into the container workspace; the viewer has no upload", async () => {
      await openFiles(owner, at());
      await uploadBatch(owner, home(), N);
      await shot(owner, "owner-uploaded");
      for (const page of [collaborator, viewer]) {
        await openFiles(page, at());
        await row(page, "batch").waitFor({ timeout: 30_000 });
      }
      expect(await viewer.getByTestId("upload-files").count()).toBe(0);
      expect(await viewer.getByTestId("new-file").count()).toBe(0);
      expect(await collaborator.getByTestId("upload-files").count()).toBe(1);
      await shot(viewer, "viewer-files");
    });

    it.skipIf(noPython !== undefined)(
      "a notebook's kernel runs in the container as the workspace user; the others see its output live",
      async () => {
        for (const page of [owner, collaborator, viewer]) {
          await page.goto(at("files/calc.ipynb#editor"));
          await page.getByTestId("notebook").waitFor({ timeout: 60_000 });
          await nbCell(page, "c-who").waitFor({ timeout: 60_000 });
        }
        await nbCell(owner, "c-who").getByTestId("nb-prompt").click();
        await owner.keyboard.press("Shift+Enter");
        const want = "uid 1000 in /home/user";
        for (const page of [owner, collaborator, viewer])
          await expect
            .poll(() => nbCell(page, "c-who").locator(".nb-outputs").textContent(), {
              timeout: 120_000,
            })
            .toContain(want);
        await expect
          .poll(() => nbCell(owner, "c-who").getByTestId("nb-prompt").textContent(), {
            timeout: 30_000,
          })
          .toBe("[1]:");
        // The output is kept in the file inside, saved as the workspace user.
        await expect
          .poll(async () => (await readFile(join(home(), "calc.ipynb"), "utf8")).includes(want), {
            timeout: 30_000,
          })
          .toBe(true);
        expect((await stat(join(home(), "calc.ipynb"))).uid).toBe((await stat(home())).uid);
        await shot(owner, "owner-notebook");
        await shot(viewer, "viewer-notebook");
        // The tests after this one start from the Files tab.
        for (const page of [owner, collaborator, viewer]) await openFiles(page, at());
      },
    );

    it("an app the owner starts in the Apps tab runs in the container on the joined host and opens at its own origin; the collaborator sees it", async () => {
      const port = 18098;
      const appRow = (page: Page) => page.locator(`[data-testid="apps-row"][data-app="a${port}"]`);
      for (const page of [owner, collaborator]) {
        await page.goto(at("#apps"));
        await page.getByTestId("apps").waitFor({ timeout: 60_000 });
      }
      const launcher = owner.locator('[data-testid="apps-launcher"][data-launcher="command"]');
      await launcher
        .getByTestId("apps-command")
        .fill(
          'mkdir -p /tmp/site && echo "served as $(whoami)" > /tmp/site/index.html && exec httpd -f -p 127.0.0.1:{port} -h /tmp/site',
        );
      await launcher.getByTestId("apps-launcher-port").fill(String(port));
      await launcher.getByTestId("apps-start").click();
      for (const page of [owner, collaborator])
        await expect
          .poll(() => appRow(page).getAttribute("data-status"), { timeout: 60_000 })
          .toBe("running");
      // The collaborator opens it: a page the app wrote inside the container, as its user.
      const [tab] = await Promise.all([
        collaborator.context().waitForEvent("page"),
        appRow(collaborator).getByTestId("apps-row-open").click(),
      ]);
      await expect
        .poll(
          async () =>
            (await tab
              .locator("body")
              .textContent()
              .catch(() => "")) ?? "",
          {
            timeout: 30_000,
          },
        )
        .toContain("served as user");
      expect(new URL(tab.url()).hostname).toBe(`p${port}-${hub.wsid}.localhost`);
      await tab.close();
      await shot(owner, "owner-apps");
      await appRow(owner).getByTestId("apps-row-stop").click();
      await expect
        .poll(() => appRow(collaborator).getAttribute("data-status"), { timeout: 60_000 })
        .toBe("stopped");
      for (const page of [owner, collaborator]) await openFiles(page, at());
    });

    it("the host stops: every page says so; it is back: the pages go on", async () => {
      const host = hub.host!;
      const frozen = [host.child.pid!, await host.natsPid()];
      for (const pid of frozen) process.kill(pid, "SIGSTOP");
      try {
        for (const page of [owner, collaborator, viewer])
          await expect
            .poll(() => page.getByTestId("hub-ws-page-state").textContent(), { timeout: 60_000 })
            .toBe("Host offline");
        expect(await owner.getByTestId("hub-ws-page-detail").textContent()).toContain(HOST);
        await shot(owner, "owner-host-offline");
        await shot(collaborator, "collaborator-host-offline");
        await shot(viewer, "viewer-host-offline");
      } finally {
        for (const pid of frozen) process.kill(pid, "SIGCONT");
      }
      for (const page of [owner, collaborator, viewer])
        await page
          .getByTestId("hub-ws-page-banner")
          .waitFor({ state: "detached", timeout: 60_000 });
      // A file made from the owner's page shows on the others'.
      await owner.getByTestId("new-file").click();
      await owner.getByTestId("new-file-dialog-input").fill("after-the-outage.txt");
      await owner.getByTestId("new-file-dialog-submit").click();
      // A new file opens in the editor; the owner goes back to Files.
      await owner
        .locator(
          '[data-testid=doc-body][data-path$="/after-the-outage.txt"] [data-testid=code-editor]',
        )
        .waitFor({ timeout: 60_000 });
      await owner.getByTestId("tab-files").click();
      for (const page of [collaborator, viewer])
        await row(page, "after-the-outage.txt").waitFor({ timeout: 60_000 });
      await access(join(home(), "after-the-outage.txt"));
      await shot(collaborator, "collaborator-resumed");
    });

    it("the host crashes and is started again: every page says so, then goes on by itself", async () => {
      // An app runs when the host crashes: its container lives on, and the host's services,
      // started again, end what they can no longer follow.
      const port = 18099;
      const appRow = owner.locator(`[data-testid="apps-row"][data-app="a${port}"]`);
      await owner.goto(at("#apps"));
      const launcher = owner.locator('[data-testid="apps-launcher"][data-launcher="command"]');
      await launcher.getByTestId("apps-command").fill("exec httpd -f -p 127.0.0.1:{port} -h /tmp");
      await launcher.getByTestId("apps-launcher-port").fill(String(port));
      await launcher.getByTestId("apps-start").click();
      await expect
        .poll(() => appRow.getAttribute("data-status"), { timeout: 60_000 })
        .toBe("running");
      const httpds = async () =>
        (
          await run("podman", [
            "exec",
            containerName(HOST, hub.wsid),
            "sh",
            "-c",
            "ps -o args | grep '[h]ttpd -f' || true",
          ])
        ).stdout;
      expect(await httpds()).toContain(`127.0.0.1:${port}`);
      await hub.host!.crash();
      for (const page of [owner, collaborator, viewer])
        await expect
          .poll(() => page.getByTestId("hub-ws-page-state").textContent(), { timeout: 60_000 })
          .toBe("Host offline");
      await hub.host!.restart();
      for (const page of [owner, collaborator, viewer])
        await page
          .getByTestId("hub-ws-page-banner")
          .waitFor({ state: "detached", timeout: 120_000 });
      await expect
        .poll(() => appRow.getAttribute("data-status"), { timeout: 60_000 })
        .toBe("stopped");
      expect(await httpds()).toBe("");
      await openFiles(owner, at());
      // The host's services were started anew, and knew nothing of the pages' live listings:
      // what is made now shows on every page all the same.
      // Its services answer a few seconds after it says it is ready.
      const c = await admin.connect(hub.wsid);
      open.push(c.nc);
      await expect
        .poll(
          () =>
            c.nc
              .request(workspaceSubjects(hub.wsid).read("fs"), JSON.stringify({ op: "info" }), {
                timeout: 2_000,
              })
              .then((m) => m.json<{ ok: boolean }>().ok)
              .catch(() => false),
          { timeout: 60_000 },
        )
        .toBe(true);
      expect((await upload(admin, "after-the-crash.txt", "x")).status).toBe(201);
      for (const page of [owner, collaborator, viewer])
        await row(page, "after-the-crash.txt").waitFor({ timeout: 60_000 });
      await owner.getByTestId("new-file").click();
      await owner.getByTestId("new-file-dialog-input").fill("made-after-the-crash.txt");
      await owner.getByTestId("new-file-dialog-submit").click();
      for (const page of [collaborator, viewer])
        await row(page, "made-after-the-crash.txt").waitFor({ timeout: 60_000 });
      await access(join(home(), "made-after-the-crash.txt"));
      await shot(viewer, "viewer-after-crash");
    });

    it("a collaborator made a viewer stops editing and typing at once, with no reload; made a collaborator again, it goes on", async () => {
      await collaborator.goto(at("files/note.txt#editor"));
      await expect
        .poll(() => editorOf(collaborator).textContent(), { timeout: 60_000 })
        .toContain("the owner typed this");
      expect(await editorOf(collaborator).getAttribute("contenteditable")).toBe("true");
      await openTerminals(collaborator);
      const screen = collaborator.getByTestId("terminal-screen");
      expect(await screen.getAttribute("data-readonly")).toBe("false");
      const setRole = async (role: string) => {
        await owner.getByTestId("hub-ws-share").click();
        await owner
          .locator(`[data-testid="hub-share-member"][data-account="${ids.bob}"]`)
          .getByTestId("hub-share-role")
          .selectOption(role);
        await owner
          .locator(`[data-testid="hub-share-member"][data-account="${ids.bob}"]`)
          .and(owner.locator(`[data-role="${role}"]`))
          .waitFor({ timeout: 30_000 });
        await owner.getByTestId("hub-share-close").click();
      };
      await setRole("viewer");
      await expect
        .poll(() => screen.getAttribute("data-readonly"), { timeout: 60_000 })
        .toBe("true");
      await collaborator.getByTestId("hub-ws-readonly").waitFor();
      await shot(collaborator, "demoted-terminal");
      // What it types now reaches no screen.
      await typeInTerminal(collaborator, "echo demoted-typed\n");
      await openTerminals(owner);
      await typeInTerminal(owner, "echo owner-after-demotion\n");
      await expect
        .poll(() => terminalScreen(collaborator), { timeout: 30_000 })
        .toContain("owner-after-demotion");
      expect(await terminalScreen(owner)).not.toContain("demoted-typed");
      // The editor opened before stays mounted behind its tab: it is read-only now too.
      await collaborator.getByTestId("tab-files").click();
      await expect
        .poll(() => editorOf(collaborator).getAttribute("contenteditable"), { timeout: 30_000 })
        .toBe("false");

      await setRole("collaborator");
      await expect
        .poll(() => editorOf(collaborator).getAttribute("contenteditable"), { timeout: 60_000 })
        .toBe("true");
      await collaborator.getByTestId("tab-terminals").click();
      await expect
        .poll(() => screen.getAttribute("data-readonly"), { timeout: 60_000 })
        .toBe("false");
      await typeInTerminal(collaborator, "echo promoted-typed\n");
      await expect
        .poll(() => terminalScreen(owner), { timeout: 30_000 })
        .toContain("promoted-typed");
    });

    it("a collaborator the owner removes in the Share panel loses access", async () => {
      await removeMember(owner, "collaborator");
      await collaborator.getByTestId("hub-ws-page-ended").waitFor({ timeout: 60_000 });
      await expect.poll(() => owner.getByTestId("hub-share-member").count()).toBe(2);
      await shot(collaborator, "collaborator-access-ended");
      // What it mints now reaches the workspace no more.
      const again = await bob.mint(createUser(), hub.wsid);
      expect(again.status).toBe(404);
      expect(await again.json()).toMatchObject({ code: "ERR_WORKSPACE_NOT_FOUND" });
    });
  },
);
