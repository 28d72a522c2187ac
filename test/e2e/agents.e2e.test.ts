import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { usernamePasswordAuthenticator } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bubblewrapAvailable } from "../../services/agents/sandbox.js";
import { agentCommand } from "../../services/agents/test-kit.js";
import { defaultThreadSettings, newThreadId, roomIdForPath } from "../../shared/agents.js";
import { BrowserInbox } from "../../shared/browser-permissions.js";
import { HAVE_CHROMIUM, launchChromium } from "../helpers/browser.js";
import { type RunningPlus, removeHome, startPlus, WEB_BUILT } from "../helpers/plus.js";

const SHOTS = process.env.E2E_SCREENSHOTS;
const AGENT = new URL("../fixtures/scripted-agent.mjs", import.meta.url).pathname;
const CODEX = new URL("../../node_modules/.bin/codex-acp", import.meta.url).pathname;

/** The last turn card. */
function lastTurn(page: Page) {
  return page.getByTestId("turn").last();
}

/** A turn's log text once it has all arrived (a stored log shows after its replay). */
async function logText(turn: ReturnType<typeof lastTurn>, containing: string): Promise<string> {
  await expect
    .poll(async () => (await turn.getByTestId("turn-log").textContent()) ?? "", {
      timeout: 30_000,
    })
    .toContain(containing);
  return (await turn.getByTestId("turn-log").textContent()) ?? "";
}

/** Every file under `dir`, as one latin1 string (to look for bytes in the event store). */
function storeText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name), "latin1"))
    .join("\n");
}

if (!WEB_BUILT) console.warn("skipping browser tests: dist/web is not built (npm run build)");

describe.skipIf(!HAVE_CHROMIUM || !WEB_BUILT)("agent chat in Chromium", () => {
  let plus: RunningPlus;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    plus = await startPlus();
    await mkdir(join(plus.home, "project"));
    await writeFile(join(plus.home, "project", "e2e.chat"), '{"type":"cocalc-chat","v":1}\n');
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    await page.goto(plus.signInUrl);
    await page.waitForURL(plus.url);
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await plus?.stop();
    if (plus) await removeHome(plus.home);
  });

  async function useScriptedAgent() {
    await page.getByTestId("thread-settings-toggle").click();
    const form = page.getByTestId("thread-settings");
    await form.locator("select").first().selectOption("custom");
    await page.getByTestId("agent-command").fill(`${process.execPath} ${AGENT}`);
    // Without bubblewrap only full access can run anything.
    if (!bubblewrapAvailable()) await form.locator("select").nth(1).selectOption("full-access");
    await page.getByTestId("save-settings").click();
    await expect.poll(() => page.locator(".agents-summary").textContent()).toContain("custom");
  }

  async function send(prompt: string) {
    await page.getByTestId("composer-input").fill(prompt);
    await page.getByTestId("submit").click();
  }

  it("a .chat file opens its room in the Agents tab; a new thread works in the chat file's folder", async () => {
    await page.goto(`${plus.url}files/project/e2e.chat`);
    await page.getByTestId("agents").waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator(".agents-room").textContent()).toBe("e2e.chat");
    await page.getByTestId("new-thread").click();
    await page.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
    await useScriptedAgent();
    expect(await page.locator(".agents-summary").textContent()).toContain(
      `· ${join(plus.home, "project")}`,
    );
  });

  it("a secret typed into Environment is offered as an API key; the thread keeps only the rest", async () => {
    const value = "sk-e2e-typed-into-the-wrong-box";
    await page.getByTestId("thread-settings-toggle").click();
    const form = page.getByTestId("thread-settings");
    await page.getByTestId("thread-env").fill(`RUST_LOG=debug\nOPENAI_API_KEY=${value}`);
    const offer = page.getByTestId("env-secrets");
    await offer.waitFor({ timeout: 10_000 });
    expect(await offer.textContent()).toContain(
      "OPENAI_API_KEY looks like a secret, and the environment is stored",
    );
    // Save alone does not send it: the offer is pointed at.
    await page.getByTestId("save-settings").click();
    await expect.poll(() => offer.getAttribute("class")).toContain("nudged");
    expect(await form.isVisible()).toBe(true);
    if (SHOTS) await form.screenshot({ path: `${SHOTS}/agents-env-secret.png` });

    await page.getByTestId("store-env-secrets").click();
    await expect.poll(() => form.count(), { timeout: 10_000 }).toBe(0);
    const keys = join(plus.dataDir, "agent-keys.json");
    expect(JSON.parse(await readFile(keys, "utf8"))).toMatchObject({ OPENAI_API_KEY: value });
    expect(statSync(keys).mode & 0o777).toBe(0o600);
    await page.getByTestId("thread-settings-toggle").click();
    await expect.poll(() => page.getByTestId("thread-env").inputValue()).toBe("RUST_LOG=debug");
    expect(await page.locator(".agents-keys").textContent()).toContain("OPENAI_API_KEY");
    await form.getByRole("button", { name: "Cancel" }).click();

    // The event store holds the one variable, never the secret.
    const store = storeText(join(plus.dataDir, "nats", "jetstream"));
    expect(store).toContain("RUST_LOG");
    expect(store).not.toContain(value);
    // The agent gets both by environment.
    await send("env OPENAI_API_KEY\nenv RUST_LOG");
    const said = await logText(lastTurn(page), "env RUST_LOG=debug");
    expect(said).toContain(`env OPENAI_API_KEY=${value}`);
  });

  it("submit → streaming → reload mid-turn shows every event, still streaming → stop → cancelled", async () => {
    await send(
      "think checking the project\nplan read|write|test\nsay # Heading\\n\\nsome **bold** text\\n\\n\nslow 60 150\nsay never reached",
    );
    const turn = lastTurn(page);
    await expect
      .poll(() => turn.getByTestId("turn-status").getAttribute("data-status"), { timeout: 30_000 })
      .toBe("running");
    await expect
      .poll(() => turn.getByTestId("turn-log").textContent(), { timeout: 30_000 })
      .toContain("chunk 3");
    await expect(turn.getByTestId("turn-streaming").isVisible()).resolves.toBe(true);
    expect(await turn.locator(".markdown h1").textContent()).toBe("Heading");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-streaming.png` });
    const before = Number(await turn.getByTestId("turn-log").getAttribute("data-events"));

    await page.reload();
    const again = lastTurn(page);
    await again.waitFor({ timeout: 30_000 });
    // Every event from the first: the thought, the plan, the heading, the first chunks.
    await expect
      .poll(async () => Number(await again.getByTestId("turn-log").getAttribute("data-events")), {
        timeout: 30_000,
      })
      .toBeGreaterThanOrEqual(before);
    const text = await logText(again, "chunk 1 chunk 2 chunk 3");
    expect(text).toContain("checking the project");
    expect(text).toContain("read");
    expect(text).toContain("chunk 1 chunk 2 chunk 3");
    expect(await again.locator(".markdown h1").textContent()).toBe("Heading");
    expect(await again.getByTestId("turn-status").getAttribute("data-status")).toBe("running");
    const afterReload = Number(await again.getByTestId("turn-log").getAttribute("data-events"));
    await expect
      .poll(async () => Number(await again.getByTestId("turn-log").getAttribute("data-events")), {
        timeout: 30_000,
      })
      .toBeGreaterThan(afterReload);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-after-reload.png` });

    await again.getByTestId("turn-stop").click();
    await expect
      .poll(() => again.getByTestId("turn-status").getAttribute("data-status"), { timeout: 10_000 })
      .toBe("cancelled");
    expect(await again.getByTestId("turn-streaming").count()).toBe(0);
    expect(await logText(again, "chunk 1")).not.toContain("never reached");
  });

  it("a turn submitted while another runs shows queued, then runs", async () => {
    await send("slow 20 100");
    await expect
      .poll(() => lastTurn(page).getByTestId("turn-status").getAttribute("data-status"), {
        timeout: 30_000,
      })
      .toBe("running");
    await send("say the queued one ran");
    await expect
      .poll(() => lastTurn(page).getByTestId("turn-status").getAttribute("data-status"), {
        timeout: 30_000,
      })
      .toBe("queued");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-queued.png` });
    await expect
      .poll(() => lastTurn(page).getByTestId("turn-status").getAttribute("data-status"), {
        timeout: 30_000,
      })
      .toBe("finished");
    const shown = await logText(lastTurn(page), "the queued one ran");
    // After a reload the finished turn opens from its snapshot, showing what the events showed.
    await expect
      .poll(
        async () => {
          await page.reload();
          const log = lastTurn(page).locator('[data-testid="turn-log"][data-source]');
          await log.waitFor({ timeout: 30_000 });
          return log.getAttribute("data-source");
        },
        { timeout: 60_000 },
      )
      .toBe("snapshot");
    expect(await logText(lastTurn(page), "the queued one ran")).toBe(shown);
  });

  it("tool calls, commands, file edits as diffs and permission requests render; approve works", async () => {
    const file = join(plus.home, "project", "notes.txt");
    await writeFile(file, "first line\nsecond line\n");
    await send(
      `read ${file}\nwrite ${file} rewritten by the agent\nrun echo hello-from-command\nask\nusage 12000 200000\nsay \\n\`\`\`js\\nconsole.log(1)\\n\`\`\`\\n`,
    );
    const turn = lastTurn(page);
    await turn.getByTestId("permission").waitFor({ timeout: 30_000 });
    await expect
      .poll(() => turn.getByTestId("command-output").first().textContent(), { timeout: 30_000 })
      .toContain("hello-from-command");
    expect(await turn.locator(".diff-add").first().textContent()).toContain(
      "rewritten by the agent",
    );
    expect(await turn.locator(".diff-del").first().textContent()).toContain("first line");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-tools.png` });
    await turn.getByTestId("permission").getByRole("button", { name: "Allow" }).click();
    await expect
      .poll(() => turn.getByTestId("turn-status").getAttribute("data-status"), { timeout: 30_000 })
      .toBe("finished");
    await logText(turn, "permission: allow");
    expect(await turn.getByTestId("turn-usage").textContent()).toContain("94% context left");
    expect(await turn.locator(".turn-message pre code").textContent()).toContain("console.log(1)");
    expect(await turn.locator(".turn-message .copy-code").count()).toBe(1);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-finished.png`, fullPage: true });
  });

  it("a dropped image is saved next to the chat file and reaches the agent", async () => {
    const png =
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    const dt = await page.evaluateHandle((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], "dot.png", { type: "image/png" }));
      return transfer;
    }, png);
    await page.getByTestId("composer").dispatchEvent("drop", { dataTransfer: dt });
    await page.locator(".composer-images .badge").waitFor({ timeout: 30_000 });
    await send("images");
    const turn = lastTurn(page);
    await expect
      .poll(() => turn.getByTestId("turn-status").getAttribute("data-status"), { timeout: 30_000 })
      .toBe("finished");
    const said = await logText(turn, "images 1");
    const m = /images 1 file:\/\/(\S+) image\/png (\d+)/.exec(said);
    expect(m).not.toBeNull();
    expect(m![1]).toContain(join(plus.home, "project", ".e2e-images"));
    expect(Number(m![2])).toBeGreaterThan(0);
    expect(existsSync(m![1]!)).toBe(true);
  });

  it("revert this turn: refused with the changed file named and nothing changed, then confirmed", async () => {
    const a = join(plus.home, "project", "rev-a.txt");
    const b = join(plus.home, "project", "rev-b.txt");
    await writeFile(a, "a before\n");
    await send(`write ${a} a after\nwrite ${b} b new`);
    const turn = lastTurn(page);
    await expect
      .poll(() => turn.getByTestId("turn-status").getAttribute("data-status"), { timeout: 30_000 })
      .toBe("finished");
    await turn.getByTestId("turn-revert").waitFor({ timeout: 30_000 });
    expect(await turn.getByTestId("turn-revert").textContent()).toContain("2 files");
    await writeFile(b, "b changed by hand\n");

    await turn.getByTestId("turn-revert").click();
    const conflict = turn.getByTestId("turn-revert-conflict");
    await conflict.waitFor({ timeout: 30_000 });
    expect(await conflict.textContent()).toContain(b);
    expect(await readFile(a, "utf8")).toBe("a after\n");
    expect(await readFile(b, "utf8")).toBe("b changed by hand\n");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-revert-conflict.png` });

    await turn.getByTestId("turn-revert-confirm").click();
    await expect
      .poll(() => turn.getByTestId("turn-revert-outcome").textContent(), { timeout: 30_000 })
      .toBe("reverted 2 files");
    expect(await readFile(a, "utf8")).toBe("a before\n");
    expect(existsSync(b)).toBe(false);
    await expect.poll(() => turn.getByTestId("file-reverted").count(), { timeout: 30_000 }).toBe(2);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-reverted.png` });
  });

  it("a file a command of the turn created shows as its diff and goes with Revert this turn", async () => {
    const made = join(plus.home, "project", "made-by-command.txt");
    await send(`run echo made > ${made}`);
    const turn = lastTurn(page);
    await expect
      .poll(() => turn.getByTestId("turn-status").getAttribute("data-status"), { timeout: 30_000 })
      .toBe("finished");
    const diff = turn.locator(`[data-testid=file-diff][data-path="${made}"]`);
    await expect
      .poll(() => diff.getByTestId("file-what").textContent(), { timeout: 30_000 })
      .toBe("created while the turn ran");
    expect(await turn.getByTestId("turn-revert").textContent()).toContain("1 file");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-command-change.png` });
    await turn.getByTestId("turn-revert").click();
    await expect
      .poll(() => turn.getByTestId("turn-revert-outcome").textContent(), { timeout: 30_000 })
      .toBe("reverted 1 file");
    expect(existsSync(made)).toBe(false);
  });

  it("edits the agent makes with its own tools show as diffs per file, collapsible, and revert per file and per turn", async () => {
    const x = join(plus.home, "project", "tool-x.py");
    const y = join(plus.home, "project", "tool-y.py");
    await writeFile(x, "def f():\n    return one()\n\nprint(f())\n");
    await send(`edit ${x} one() two()\ncreate ${y} print(42)`);
    const turn = lastTurn(page);
    await expect
      .poll(() => turn.getByTestId("turn-status").getAttribute("data-status"), { timeout: 30_000 })
      .toBe("finished");
    const diffs = turn.getByTestId("file-diff");
    await expect.poll(() => diffs.count(), { timeout: 30_000 }).toBe(2);
    // Whole-file diffs, as recorded: the line that changed, with its neighbours (the tool
    // call's own diff shows until the recorded write has reached the page).
    const xDiff = turn.locator(`[data-testid=file-diff][data-path="${x}"]`);
    await expect
      .poll(() => xDiff.locator(".diff-del").textContent(), { timeout: 30_000 })
      .toContain("return one()");
    expect(await xDiff.locator(".diff-add").textContent()).toContain("return two()");
    expect(await xDiff.locator(".turn-file-head").textContent()).toContain("+1");
    // Collapsible.
    await xDiff.locator("summary code").click();
    await expect.poll(() => xDiff.getAttribute("open")).toBeNull();
    await xDiff.locator("summary code").click();
    await expect.poll(() => xDiff.getAttribute("open")).toBe("");
    if (SHOTS) await turn.screenshot({ path: `${SHOTS}/agents-tool-edits.png` });
    expect(await turn.getByTestId("turn-revert").textContent()).toContain("2 files");

    // One file back.
    await xDiff.getByTestId("file-revert").click();
    await expect.poll(() => readFile(x, "utf8"), { timeout: 30_000 }).toContain("return one()");
    await xDiff.getByTestId("file-reverted").waitFor({ timeout: 30_000 });
    // The other changed after the agent: the turn's revert says so and changes nothing.
    await writeFile(y, "print(43)\n");
    await turn.getByTestId("turn-revert").click();
    const conflict = turn.getByTestId("turn-revert-conflict");
    await conflict.waitFor({ timeout: 30_000 });
    expect(await conflict.textContent()).toContain(y);
    expect(await readFile(y, "utf8")).toBe("print(43)\n");
    await conflict.getByRole("button", { name: "Cancel" }).click();
  });

  it("the log follows new output while the reader is at the bottom; scrolled up, it offers to jump to the latest", async () => {
    const turns = page.getByTestId("turns");
    const gap = () =>
      turns.evaluate((el) => Math.round(el.scrollHeight - el.scrollTop - el.clientHeight));
    await send("slow 40 60");
    const turn = lastTurn(page);
    await expect
      .poll(() => turn.getByTestId("turn-status").getAttribute("data-status"), { timeout: 30_000 })
      .toBe("running");
    await logText(turn, "chunk 20");
    // The log scrolls along at the next frame.
    await expect.poll(gap).toBeLessThan(48);
    // Up in the log: it stays where the reader is, and says there is more below.
    await turns.evaluate((el) => {
      el.scrollTop = 0;
    });
    await page.getByTestId("jump-to-latest").waitFor({ timeout: 30_000 });
    expect(await turns.evaluate((el) => el.scrollTop)).toBe(0);
    await expect
      .poll(() => turn.getByTestId("turn-status").getAttribute("data-status"), { timeout: 30_000 })
      .toBe("finished");
    await page.getByTestId("jump-to-latest").click();
    await expect.poll(gap).toBeLessThan(48);
    expect(await page.getByTestId("jump-to-latest").count()).toBe(0);
  });

  it("a failed turn can be retried, a sent prompt edited and sent again, an answer copied", async () => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: plus.url });
    // The newest turn card (the page shows the latest turns only: count the turn ids).
    const newest = () => lastTurn(page).getAttribute("data-turn");
    const seen = new Set([await newest()]);
    const next = async () => {
      // What the page said, should no new turn come (a refused command shows as an alert).
      const said = async () =>
        [
          `no new turn; the page says: ${(await page.locator(".agents-error").allTextContents()).join(" | ") || "nothing"}`,
          `turns: ${await page.getByTestId("turn").evaluateAll((els) => els.map((e) => `${e.dataset.turn}:${e.querySelector("[data-status]")?.getAttribute("data-status")}`).join(" "))}`,
          `retry buttons: ${await page.getByTestId("turn-retry").count()}`,
          `plus's agents log and warnings: ${plus
            .output()
            .split("\n")
            .filter((l) => /"level":(40|50|60)|"service":"agents"/.test(l))
            .slice(-15)
            .join("\n")}`,
        ].join("\n");
      await expect
        .poll(async () => (seen.has(await newest()) ? await said() : "new"), { timeout: 30_000 })
        .toBe("new");
      seen.add(await newest());
    };
    await send("say answer **one**\ncrash");
    await next();
    const failed = lastTurn(page);
    await expect
      .poll(() => failed.getByTestId("turn-status").getAttribute("data-status"), {
        timeout: 30_000,
      })
      .toBe("failed");
    // The card is whole before the click: its last words are there (the agent's end). A card
    // still growing moves its Retry button while the log follows it, and a click in flight
    // then lands beside the button.
    await failed.getByTestId("turn-copy").waitFor({ timeout: 30_000 });
    await logText(failed, "the agent process ended");
    await failed.getByTestId("turn-retry").click();
    await next();
    expect(await lastTurn(page).locator(".turn-prompt").textContent()).toContain("crash");
    await expect
      .poll(() => lastTurn(page).getByTestId("turn-status").getAttribute("data-status"), {
        timeout: 30_000,
      })
      .toBe("failed");
    // Edit: the prompt goes back into the box, to change and send.
    await lastTurn(page).getByTestId("turn-edit").click();
    await expect
      .poll(() => page.getByTestId("composer-input").inputValue())
      .toBe("say answer **one**\ncrash");
    await page.getByTestId("composer-input").fill("say answer **two**");
    await page.getByTestId("submit").click();
    await next();
    const done = lastTurn(page);
    await expect
      .poll(() => done.getByTestId("turn-status").getAttribute("data-status"), { timeout: 30_000 })
      .toBe("finished");
    await done.getByTestId("turn-copy").click();
    await expect.poll(() => done.getByTestId("turn-copy").textContent()).toBe("Copied");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe("answer **two**");
  });

  it("the agent's modes and options are pickers in the thread's header, remembered on the thread; its slash commands complete in the box", async () => {
    // The session tells what it offers once it runs.
    await send("say hello");
    await logText(lastTurn(page), "hello");
    const mode = page.getByTestId("session-mode");
    await mode.waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("session-id").textContent()).toContain("session scripte");
    await mode.selectOption("code");
    await page.getByTestId("session-option-model").selectOption("large");
    await expect.poll(() => page.locator(".agents-summary").textContent()).toContain("large");
    await send("config");
    const turn = lastTurn(page);
    await logText(turn, "mode code model large effort low");
    await page.reload();
    await expect
      .poll(() => page.getByTestId("session-mode").inputValue(), { timeout: 30_000 })
      .toBe("code");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-session-pickers.png` });

    const box = page.getByTestId("composer-input");
    await box.fill("/re");
    const offered = page.getByTestId("slash-commands");
    await offered.waitFor({ timeout: 10_000 });
    expect(await offered.textContent()).toContain("/review");
    expect(await offered.textContent()).not.toContain("/init");
    if (SHOTS) await page.locator(".composer").screenshot({ path: `${SHOTS}/agents-slash.png` });
    await box.press("Tab");
    expect(await box.inputValue()).toBe("/review ");
    expect(await offered.count()).toBe(0);
    await box.fill("");
  });

  it("send now while a turn runs: it is stopped and the new prompt runs at once; the page says so", async () => {
    await send("slow 200 100");
    const running = lastTurn(page);
    await expect
      .poll(() => running.getByTestId("turn-status").getAttribute("data-status"), {
        timeout: 30_000,
      })
      .toBe("running");
    const first = await running.getAttribute("data-turn");
    expect(await page.getByTestId("submit").textContent()).toBe("Queue");
    await page.getByTestId("composer-input").fill("say steered");
    await page.getByTestId("submit-now").click();
    await expect.poll(() => lastTurn(page).getAttribute("data-turn")).not.toBe(first);
    const steered = lastTurn(page);
    await steered.getByTestId("turn-sent-now").waitFor({ timeout: 30_000 });
    await logText(steered, "steered");
    await expect
      .poll(() => steered.getByTestId("turn-status").getAttribute("data-status"), {
        timeout: 30_000,
      })
      .toBe("finished");
    const stopped = page.locator(`[data-testid=turn][data-turn="${first}"]`);
    expect(await stopped.getByTestId("turn-status").getAttribute("data-status")).toBe("cancelled");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-send-now.png` });
  });

  it("a room with 500 threads: only rows in view are rendered; scrolled to the bottom, the oldest shows", async () => {
    const run = JSON.parse(await readFile(join(plus.dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    const secrets = JSON.parse(await readFile(join(plus.dataDir, "secrets.json"), "utf8")) as {
      browserPassword: string;
    };
    const nc = await connect({
      servers: run.natsUrl,
      authenticator: usernamePasswordAuthenticator("browser", secrets.browserPassword),
      inboxPrefix: BrowserInbox,
    });
    try {
      const path = join(plus.home, "project", "many.chat");
      await writeFile(path, '{"type":"cocalc-chat","v":1}\n');
      const room = roomIdForPath(path);
      const settings = defaultThreadSettings(join(plus.home, "project"));
      const create = async (title: string) => {
        const r = await agentCommand(nc, run.wsid, "CreateThread", {
          room,
          thread: newThreadId(),
          title,
          settings,
        });
        expect(r).toMatchObject({ ok: true });
      };
      // The oldest first, on its own: the list shows the newest first, so it ends the list.
      await create("the oldest thread");
      await new Promise((r) => setTimeout(r, 20));
      for (let i = 1; i < 500; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, 500 - i) }, (_, k) => create(`many ${i + k}`)),
        );
      }
      await page.goto(`${plus.url}files/project/many.chat`);
      const list = page.getByTestId("thread-list");
      await expect.poll(() => list.getAttribute("data-count"), { timeout: 30_000 }).toBe("500");
      const rendered = await list.getByTestId("thread").count();
      expect(rendered).toBeGreaterThan(5);
      expect(rendered).toBeLessThan(100);
      expect(await list.getByText("the oldest thread").count()).toBe(0);

      await list.evaluate((el) => {
        el.scrollTop = el.scrollHeight;
      });
      const oldest = list.getByTestId("thread").filter({ hasText: "the oldest thread" });
      await oldest.waitFor({ timeout: 30_000 });
      await expect.poll(() => oldest.isVisible()).toBe(true);
      const box = await oldest.boundingBox();
      const frame = await list.boundingBox();
      expect(box && frame && box.y + box.height <= frame.y + frame.height + 1).toBe(true);
      expect(await list.getByTestId("thread").count()).toBeLessThan(100);
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-many-threads.png` });
      await oldest.click();
      await expect
        .poll(() => page.locator(".agents-header h2").textContent(), { timeout: 30_000 })
        .toBe("the oldest thread");
    } finally {
      await nc.close();
    }
    await page.goto(`${plus.url}files/project/e2e.chat`);
    await page.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
  });

  it("codex-acp without a key: the turn fails in words and the sign-in choices show; Login with ChatGPT shows its page", async () => {
    // The key stored above is removed: this thread's agent has no credentials.
    await page.getByTestId("thread-settings-toggle").click();
    await page.getByLabel("Key name").fill("OPENAI_API_KEY");
    await page.getByLabel("Key value").fill("");
    await page.getByRole("button", { name: "Store key" }).click();
    await expect
      .poll(() => page.locator(".agents-keys").textContent())
      .not.toContain("OPENAI_API_KEY");
    await page.getByTestId("thread-settings").getByRole("button", { name: "Cancel" }).click();
    // The new thread is selected once it exists: its settings are the ones changed below.
    const count = Number(await page.getByTestId("thread-list").getAttribute("data-count"));
    await page.getByTestId("new-thread").click();
    await expect
      .poll(() => page.locator(".agents-header h2").textContent(), { timeout: 30_000 })
      .toBe(`Thread ${count + 1}`);
    await page.getByTestId("thread-settings-toggle").click();
    const form = page.getByTestId("thread-settings");
    await form.locator("select").first().selectOption("custom");
    await page.getByTestId("agent-command").fill(CODEX);
    await page.getByTestId("save-settings").click();
    await expect.poll(() => page.locator(".agents-summary").textContent()).toContain("custom");
    await send("hello codex");
    const turn = lastTurn(page);
    await expect
      .poll(() => turn.getByTestId("turn-status").getAttribute("data-status"), { timeout: 60_000 })
      .toBe("failed");
    const failure = (await turn.getByTestId("turn-failure").textContent()) ?? "";
    expect(failure).toContain("ERR_AGENT_AUTH");
    expect(failure).toMatch(/Authentication required/i);
    expect(failure).toContain("OPENAI_API_KEY");
    // The sign-in choices the agent offered show by themselves.
    const panel = page.getByTestId("sign-in-panel");
    await panel.waitFor({ timeout: 10_000 });
    expect(await page.getByTestId("sign-in-keys").textContent()).toContain("OPENAI_API_KEY");
    await page.getByTestId("sign-in-chatgpt").click();
    const link = page.getByTestId("sign-in-url");
    await link.waitFor({ timeout: 60_000 });
    expect(await link.getAttribute("href")).toMatch(/^https:\/\/auth\.openai\.com\//);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-codex-sign-in.png` });
    // Only the sign-in's own callback is relayed.
    await page.getByTestId("sign-in-callback").fill("http://localhost:9/elsewhere?code=x");
    await panel.getByRole("button", { name: "Send" }).click();
    await expect
      .poll(() => page.locator(".agents-error").textContent())
      .toContain("not the sign-in's callback");
    await panel.getByRole("button", { name: "Cancel sign-in" }).click();
    await expect
      .poll(() => page.getByTestId("sign-in-failed").textContent(), { timeout: 30_000 })
      .toContain("cancelled");
  });

  it("codex-acp with a stored key: plus authenticates, and the turn fails with the network error in words", async () => {
    await page.getByTestId("sign-in-panel").getByRole("button", { name: "Store a key" }).click();
    await page.getByLabel("Key name").fill("OPENAI_API_KEY");
    await page.getByLabel("Key value").fill("sk-proj-0123456789abcdefghijklmnopqrstuvwxyzABCD");
    await page.getByRole("button", { name: "Store key" }).click();
    await expect.poll(() => page.locator(".agents-keys").textContent()).toContain("OPENAI_API_KEY");
    await page.getByTestId("thread-settings").getByRole("button", { name: "Cancel" }).click();
    const before = await page.getByTestId("turn").count();
    await send("hello again");
    await expect.poll(() => page.getByTestId("turn").count()).toBe(before + 1);
    const turn = lastTurn(page);
    await expect
      .poll(() => turn.getByTestId("turn-status").getAttribute("data-status"), { timeout: 180_000 })
      .toBe("failed");
    const failure = (await turn.getByTestId("turn-failure").textContent()) ?? "";
    expect(failure).not.toContain("ERR_AGENT_AUTH");
    expect(failure).toMatch(/stream disconnected|error sending request|api\.openai\.com/i);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/agents-codex-network.png` });
  }, 240_000);

  it("the selected thread is in the URL: a reload (or the link elsewhere) opens it, not the newest", async () => {
    // Not the newest (the list's first row), and a row that is drawn: the list is virtualised,
    // and a title like "Thread 1" is also part of "Thread 173".
    const row = page.getByTestId("thread").nth(1);
    const title = (await row.getAttribute("title")) ?? "";
    expect(title).not.toBe("");
    expect(await page.getByTestId("thread").first().getAttribute("title")).not.toBe(title);
    await row.click();
    await expect.poll(() => page.locator(".agents-header h2").textContent()).toBe(title);
    await expect.poll(() => page.evaluate(() => location.hash)).toMatch(/^#agents\/[\w-]+$/);
    const link = page.url();
    await page.reload();
    await page.getByTestId("thread-pane").waitFor({ timeout: 30_000 });
    await expect
      .poll(() => page.locator(".agents-header h2").textContent(), { timeout: 30_000 })
      .toBe(title);
    const other = await context.newPage();
    try {
      await other.goto(link);
      await expect
        .poll(() => other.locator(".agents-header h2").textContent(), { timeout: 30_000 })
        .toBe(title);
    } finally {
      await other.close();
    }
  });

  it("Settings → Agent defaults stores workspace-level API keys (0600), used by every thread", async () => {
    await page.getByTestId("tab-settings").click();
    const keys = page.locator(".settings-section [data-testid=agent-keys]");
    await keys.waitFor({ timeout: 30_000 });
    await keys.getByLabel("Key name").fill("ANTHROPIC_API_KEY");
    await keys.getByLabel("Key value").fill("sk-ant-e2e-settings");
    await keys.getByRole("button", { name: "Store key" }).click();
    await expect.poll(() => keys.textContent()).toContain("ANTHROPIC_API_KEY");
    const file = join(plus.dataDir, "agent-keys.json");
    expect(JSON.parse(await readFile(file, "utf8"))).toMatchObject({
      ANTHROPIC_API_KEY: "sk-ant-e2e-settings",
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/settings-agent-keys.png`, fullPage: true });
  });
  it("threads are renamed, archived (kept under Archived, taken back) and deleted after a question", async () => {
    await writeFile(join(plus.home, "project", "tidy.chat"), '{"type":"cocalc-chat","v":1}\n');
    await page.goto(`${plus.url}files/project/tidy.chat`);
    await expect.poll(() => page.locator(".agents-room").textContent()).toBe("tidy.chat");
    const list = page.getByTestId("thread-list");
    for (const n of [1, 2]) {
      await page.getByTestId("new-thread").click();
      await expect.poll(() => list.getAttribute("data-count")).toBe(String(n));
    }
    const header = page.locator(".agents-header h2");
    await expect.poll(() => header.textContent()).toBe("Thread 2");

    await page.getByTestId("thread-rename").click();
    await page.getByTestId("thread-rename-input").fill("Release notes");
    await page.getByTestId("thread-rename-save").click();
    await expect.poll(() => header.textContent()).toBe("Release notes");
    await expect
      .poll(() => page.getByTestId("thread").first().getAttribute("title"))
      .toBe("Release notes");

    await page.getByTestId("thread-archive").click();
    await expect.poll(() => list.getAttribute("data-count")).toBe("1");
    await expect.poll(() => header.textContent()).toBe("Thread 1");
    const toggle = page.getByTestId("archived-toggle");
    await expect.poll(() => toggle.textContent()).toBe("Archived (1)");
    await toggle.click();
    await expect.poll(() => list.getAttribute("data-archived")).toBe("yes");
    await page.locator('[data-testid="thread"][title="Release notes"]').click();
    await expect.poll(() => header.textContent()).toBe("Release notes");
    await page.getByTestId("thread-archive").click();
    await expect.poll(() => list.getAttribute("data-count")).toBe("0");
    await toggle.click();
    await expect.poll(() => list.getAttribute("data-count")).toBe("2");

    // Delete asks first, and Cancel keeps it.
    await page.locator('[data-testid="thread"][title="Thread 1"]').click();
    await expect.poll(() => header.textContent()).toBe("Thread 1");
    await page.getByTestId("thread-delete").click();
    await expect
      .poll(() => page.getByTestId("thread-delete-confirm").textContent())
      .toContain("Delete “Thread 1”, its 0 turns and their logs?");
    if (process.env.E2E_SCREENSHOTS)
      await page.screenshot({ path: join(process.env.E2E_SCREENSHOTS, "agents-delete.png") });
    await page.getByTestId("thread-delete-yes").click();
    await expect.poll(() => list.getAttribute("data-count")).toBe("1");
    await expect.poll(() => header.textContent()).toBe("Release notes");
    await page.reload();
    await expect.poll(() => list.getAttribute("data-count"), { timeout: 30_000 }).toBe("1");
    expect(await page.locator('[data-testid="thread"][title="Thread 1"]').count()).toBe(0);
  });
});
