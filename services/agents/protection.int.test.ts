/**
 * What an agent can reach of plus's secrets and of this machine's network, per mode, with the
 * scripted agent: every protected file × {ACP read, ACP write, `run cat`, `run tee`, the agent's
 * own read and write} ×
 * {read-only, workspace-write} is refused, full access (the user's choice) is allowed; and a
 * confined command reaches nothing on loopback unless the thread allows network.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AgentMode,
  defaultThreadSettings,
  newThreadId,
  newTurnId,
  roomIdForPath,
  type ThreadSettings,
  type TurnView,
  turnEnded,
} from "../../shared/agents.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { agentsService } from "./index.js";
import { bubblewrapAvailable, networkIsolationAvailable } from "./sandbox.js";
import { agentCommand, agentRequest, followLog, messagesOf, turnView } from "./test-kit.js";

const AGENT = new URL("../../test/fixtures/scripted-agent.mjs", import.meta.url).pathname;
const room = roomIdForPath("/tmp/protection-test.chat");
const W = TEST_WSID;
const CONFINED = bubblewrapAvailable() && networkIsolationAvailable();
if (!CONFINED) {
  console.warn(
    "skipping the read-only and workspace-write rows: bubblewrap cannot create the namespaces it needs here",
  );
}
// The protected folders are found from these; the test's home must decide them.
// And the agent's proxy is the one plus gives it, or none.
for (const v of [
  "XDG_CONFIG_HOME",
  "XDG_DATA_HOME",
  "XDG_RUNTIME_DIR",
  "SSH_AUTH_SOCK",
  "HTTPS_PROXY",
  "https_proxy",
]) {
  delete process.env[v];
}

/** A protected file: where it is (from the thread's working directory, the home) and what it holds. */
interface Secret {
  label: string;
  path: string;
  content: string;
}

describe("agents and plus's secrets", () => {
  let t: TestNats;
  let home: string;
  let data: string;
  let supervisor: Supervisor;
  let secrets: Secret[];
  /** Protected files that do not exist yet: a write must not create them. */
  let missing: string[];
  const threads = new Map<string, string>();

  beforeAll(async () => {
    t = await setup({ streams: true, durables: ["agents"] });
    home = await mkdtemp(join(tmpdir(), "cocalc-protect-home-"));
    // The default place of the data directory: under the working directory (the home).
    data = join(home, ".local", "share", "cocalc-plus");
    await mkdir(join(home, "work"), { recursive: true });
    secrets = [
      ["services.nk", join(data, "services.nk")],
      ["agent-keys.json", join(data, "agent-keys.json")],
      ["secrets.json", join(data, "secrets.json")],
      ["remote session token", join(data, "remote", "s1.token")],
      ["ssh control socket dir", join(data, "remote", "ctl", "ctl-entry")],
      ["connection-info file", join(home, "conn", "connection.json")],
      ["connection token file", join(home, "conn", "connection.token")],
      ["nats context", join(home, ".config", "nats", "context", "cocalc-plus.json")],
      ["nats creds", join(home, ".local", "share", "nats", "nsc", "keys", "u.creds")],
      ["ssh key", join(home, ".ssh", "id_ed25519")],
      ["gnupg key", join(home, ".gnupg", "private-keys-v1.d", "k.key")],
      ["plus config", join(home, ".config", "cocalc-plus", "config.json")],
      ["symlink into ~/.ssh", join(home, "work", "innocent.txt")],
    ].map(([label, path], i) => ({ label: label!, path: path!, content: `SECRET-${i}-${label}` }));
    missing = [join(data, "new-file"), join(home, ".ssh", "authorized_keys")];
    supervisor = new Supervisor({ nc: t.nc, wsid: W, log: testLog, heartbeatMs: 500 });
    await supervisor.start([
      agentsService({
        dataDir: data,
        home,
        secretFiles: [
          join(home, "conn", "connection.json"),
          join(home, "conn", "connection.token"),
        ],
        initTimeoutMs: 5000,
        sessionTimeoutMs: 5000,
      }),
    ]);
  });

  afterAll(async () => {
    await supervisor?.stop();
    await t?.cleanup();
    if (home) await rm(home, { recursive: true, force: true });
  });

  /** Every protected file as the table expects it before a row runs. */
  async function seed(): Promise<void> {
    for (const s of secrets) {
      if (s.label === "symlink into ~/.ssh") continue;
      await mkdir(join(s.path, ".."), { recursive: true });
      await writeFile(s.path, `${s.content}\n`, { mode: 0o600 });
    }
    const link = secrets.find((s) => s.label === "symlink into ~/.ssh")!;
    await rm(link.path, { force: true });
    await symlink(join(home, ".ssh", "id_ed25519"), link.path);
    // Reading through it gives the ssh key.
    link.content = secrets.find((s) => s.label === "ssh key")!.content;
    for (const m of missing) await rm(m, { force: true });
  }

  async function threadFor(mode: AgentMode, network = false): Promise<string> {
    const key = `${mode}/${network}`;
    const known = threads.get(key);
    if (known) return known;
    const thread = newThreadId();
    const settings: ThreadSettings = {
      ...defaultThreadSettings(home),
      agent: "custom",
      command: `${process.execPath} ${AGENT}`,
      mode,
      network,
    };
    const r = await agentCommand(t.nc, W, "CreateThread", { room, thread, title: key, settings });
    expect(r).toMatchObject({ ok: true });
    threads.set(key, thread);
    return thread;
  }

  /** Runs one turn and returns what the agent said after each `## label` marker. */
  async function turn(thread: string, steps: [string, string][]): Promise<Map<string, string>> {
    const prompt = steps.map(([label, line]) => `say \\n## ${label}\\n\n${line}`).join("\n");
    const id = newTurnId();
    expect(
      await agentCommand(t.nc, W, "SubmitTurn", { room, thread, turn: id, prompt }),
    ).toMatchObject({ ok: true });
    const view = await until<TurnView>(`turn ${id} ended`, async () => {
      const v = await turnView(t.nc, W, thread, id);
      return v && turnEnded(v.status) ? v : undefined;
    });
    expect(view.status, JSON.stringify(view.failure)).toBe("finished");
    const said = messagesOf(await followLog(t.nc, W, thread, id));
    const out = new Map<string, string>();
    for (const part of said.split("\n## ").slice(1)) {
      const nl = part.indexOf("\n");
      out.set(part.slice(0, nl), part.slice(nl + 1));
    }
    return out;
  }

  /** ACP requests, commands through a terminal, and what the agent process does itself. */
  const OPS = ["read", "write", "run cat", "run tee", "selfread", "selfwrite"] as const;
  type Op = (typeof OPS)[number];
  const MODES = ["read-only", "workspace-write", "full-access"] as const;

  /** The instruction of `op` on `path`. */
  function step(op: Op, path: string, mode: string): string {
    switch (op) {
      case "read":
        return `read ${path}`;
      case "write":
        return `write ${path} WRITTEN-BY-${mode}`;
      case "run cat":
        return `run cat ${path}`;
      case "run tee":
        return `run echo TEED-BY-${mode} | tee ${path}`;
      case "selfread":
        return `selfread ${path}`;
      case "selfwrite":
        return `selfwrite ${path}`;
    }
  }

  describe.each(MODES)("%s", (mode) => {
    const confined = mode !== "full-access";
    it.skipIf(confined && !CONFINED).each(OPS)(
      `${mode}: %s of every protected file`,
      async (op) => {
        await seed();
        // The key store really holds a key (through the request that sets it).
        expect(
          await agentRequest(t.nc, W, { op: "setKey", name: "OPENAI_API_KEY", value: "sk-stored" }),
        ).toMatchObject({ ok: true });
        const keys = secrets.find((s) => s.label === "agent-keys.json")!;
        keys.content = "sk-stored";
        const writes = op === "write" || op === "run tee" || op === "selfwrite";
        const targets = [
          ...secrets.map((s) => [s.label, s.path] as const),
          ...(writes ? missing.map((m) => [`new ${m.slice(home.length)}`, m] as const) : []),
        ];
        const before = new Map<string, string | null>();
        for (const [, p] of targets) {
          before.set(p, existsSync(p) ? await readFile(p, "utf8") : null);
        }
        const said = await turn(
          await threadFor(mode),
          targets.map(([label, p]) => [label, step(op, p, mode)]),
        );
        for (const [label, p] of targets) {
          const what = `${mode} ${op} ${label}: ${said.get(label)}`;
          const answer = said.get(label) ?? "";
          const secret = secrets.find((s) => s.path === p);
          const now = existsSync(p) ? await readFile(p, "utf8") : null;
          if (!confined) {
            // Full access: the user's choice, everything is reachable.
            const first = (before.get(p) ?? "").split("\n")[0];
            if (op === "read") expect(answer, what).toContain(`characters: ${first}`);
            if (op === "run cat") expect(answer, what).toMatch(/^exit 0 /);
            if (op === "run cat") expect(answer, what).toContain(secret!.content);
            if (op === "write") expect(now, what).toBe(`WRITTEN-BY-${mode}\n`);
            if (op === "run tee") expect(now, what).toBe(`TEED-BY-${mode}\n`);
            if (op === "selfread") expect(answer, what).toContain(`characters: ${first}`);
            if (op === "selfwrite") expect(now, what).toBe("written by the agent itself\n");
            continue;
          }
          // Never the secret, and the file as it was.
          if (secret) expect(answer, what).not.toContain(secret.content);
          expect(now, what).toBe(before.get(p));
          if (op === "read")
            expect(answer, what).toContain("read failed: ERR_AGENT_PROTECTED_PATH");
          if (op === "write") {
            expect(answer, what).toContain(
              mode === "read-only"
                ? "write refused: ERR_AGENT_READ_ONLY"
                : "write refused: ERR_AGENT_PROTECTED_PATH",
            );
          }
          if (op === "run tee") expect(answer, what).toMatch(/^exit [1-9]/);
          if (op === "selfwrite") expect(answer, what).toContain("selfwrite failed");
        }
        // The refusal says why.
        if (confined && op === "read") {
          expect(said.get("ssh key")).toMatch(
            /is protected from agents outside full access: \S+\/\.ssh holds ssh keys/,
          );
          expect(said.get("symlink into ~/.ssh")).toContain("really");
        }
      },
    );
  });

  it.skipIf(!CONFINED)(
    "a working directory inside a protected folder: the turn fails and says why",
    async () => {
      await mkdir(join(data, "inside"), { recursive: true });
      const thread = newThreadId();
      const settings: ThreadSettings = {
        ...defaultThreadSettings(join(data, "inside")),
        agent: "custom",
        command: `${process.execPath} ${AGENT}`,
        mode: "workspace-write",
      };
      await agentCommand(t.nc, W, "CreateThread", { room, thread, title: "in data", settings });
      const id = newTurnId();
      await agentCommand(t.nc, W, "SubmitTurn", { room, thread, turn: id, prompt: "say hi" });
      const v = await until(`turn ${id} ended`, async () => {
        const x = await turnView(t.nc, W, thread, id);
        return x && turnEnded(x.status) ? x : undefined;
      });
      expect(v.status).toBe("failed");
      expect(v.failure?.code).toBe("ERR_AGENT_PROTECTED_PATH");
    },
  );

  describe("network", () => {
    const natsPort = () => new URL(t.url).port;
    const rows: [AgentMode, boolean][] = [
      ["read-only", false],
      ["workspace-write", false],
      ["read-only", true],
      ["workspace-write", true],
      ["full-access", false],
    ];
    it.skipIf(!CONFINED).each(rows)(
      "%s, network %s: loopback (nats-server) from a command, from the agent, through the proxy",
      async (mode, network) => {
        await seed();
        const port = natsPort();
        const said = await turn(await threadFor(mode, network), [
          ["command", `run exec 3<>/dev/tcp/127.0.0.1/${port} && echo REACHED`],
          ["agent", `connect 127.0.0.1 ${port}`],
          ["proxy", `proxy 127.0.0.1 ${port}`],
          ["credentials", `run cat ${join(data, "services.nk")}`],
        ]);
        const open = network || mode === "full-access";
        const what = JSON.stringify(Object.fromEntries(said));
        if (open) {
          expect(said.get("command"), what).toContain("REACHED");
          expect(said.get("agent"), what).toMatch(/connect 127\.0\.0\.1 \d+ ok/);
          expect(said.get("proxy"), what).toContain("none");
        } else {
          expect(said.get("command"), what).not.toContain("REACHED");
          expect(said.get("agent"), what).toMatch(/connect 127\.0\.0\.1 \d+ failed ECONNREFUSED/);
          // The agent's only way out refuses this machine's addresses.
          expect(said.get("proxy"), what).toContain("HTTP/1.1 403");
        }
        // With network, still no credentials.
        const seedFile = secrets.find((s) => s.label === "services.nk")!;
        if (mode === "full-access")
          expect(said.get("credentials"), what).toContain(seedFile.content);
        else expect(said.get("credentials"), what).not.toContain(seedFile.content);
      },
    );
  });
});
