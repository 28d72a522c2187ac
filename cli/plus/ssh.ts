/**
 * `cocalc-plus ssh …` and `cocalc-plus uninstall`. Sessions belong to the local plus (its
 * remote service supervises tunnels and keeps the `remote-sessions` view): this command
 * starts that plus in the background when none runs, sends the command and follows the
 * session's events until the remote answers through the tunnel.
 */

import { spawn } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { DeliverPolicy, type JetStreamClient, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  readSessionsSnapshot,
  remoteRegistry,
  remoteTokenFile,
  SshClient,
  sessionControlDir,
} from "../../services/remote/index.js";
import { connectServices } from "../../services/runtime/connect.js";
import { isCommandAnswer, request } from "../../shared/command-client.js";
import type { ErrorPayload } from "../../shared/errors.js";
import {
  parseTarget,
  REMOTE_INSTALL_ROOT,
  type RemoteEvent,
  type RemoteSessionView,
  sessionIdOf,
} from "../../shared/remote.js";
import {
  Buckets,
  remoteSubjects,
  ServiceNames,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { sessionIdOfPair } from "../../shared/sync.js";
import { askInTerminal } from "../common/ask.js";
import { runningPid } from "../common/lock.js";
import { secretsFile } from "../common/secrets.js";
import { table } from "../common/table.js";
import { startDaemonChild } from "./daemon.js";
import { openBrowser } from "./open-browser.js";
import { type RunInfo, runInfoFile } from "./server.js";
import { SSH_HELP, type SshCommand } from "./ssh-args.js";

/** How long a connect may take before the command gives up (an install over a slow link). */
const CONNECT_TIMEOUT_MS = 10 * 60_000;
const STOP_TIMEOUT_MS = 60_000;

interface Local {
  nc: NatsConnection;
  js: JetStreamClient;
  wsid: string;
  close(): Promise<void>;
}

function fail(message: string): number {
  console.error(`cocalc-plus ssh: ${message}`);
  return 1;
}

/** Starts the local plus in the background on `dataDir` unless it runs already. */
async function ensureLocalPlus(dataDir: string): Promise<void> {
  if ((await runningPid(dataDir)) !== undefined) return;
  console.error(`starting the local cocalc-plus in the background (data in ${dataDir})…`);
  const r = await startDaemonChild(process.argv[1]!, ["--no-open", "--data-dir", dataDir], dataDir);
  // Another cocalc-plus ssh may have started it at the same moment: that one is as good.
  if (!r.ok && (await runningPid(dataDir)) === undefined)
    throw new Error(`the local cocalc-plus did not start: ${r.message}`);
}

async function connectLocal(dataDir: string): Promise<Local> {
  await ensureLocalPlus(dataDir);
  const run = JSON.parse(await readFile(runInfoFile(dataDir), "utf8")) as RunInfo;
  const secrets = JSON.parse(await readFile(secretsFile(dataDir), "utf8")) as {
    servicesSeed: string;
    servicesPublicKey: string;
  };
  const nc = await connectServices(
    { url: run.natsUrl, seed: secrets.servicesSeed, publicKey: secrets.servicesPublicKey },
    "cocalc-plus ssh",
  );
  return {
    nc,
    js: jetstream(nc),
    wsid: run.wsid,
    close: () => nc.drain().catch(() => nc.close()),
  };
}

async function command(local: Local, type: string, data: unknown): Promise<number> {
  const subject = workspaceSubjects(local.wsid).command(ServiceNames.remote);
  const reply = await request(
    local.nc,
    subject,
    { type, data },
    { timeoutMs: 30_000, isAnswer: isCommandAnswer, refused: (e) => new ReplyError(e) },
  );
  return Math.max(0, ...reply.seqs);
}

class ReplyError extends Error {
  constructor(readonly payload: ErrorPayload) {
    super(payload.message);
  }
}

/** Follows a session's events after `afterSeq` until `until` says stop (true) or time runs out. */
async function follow(
  local: Local,
  sid: string,
  afterSeq: number,
  timeoutMs: number,
  until: (e: RemoteEvent) => boolean | undefined,
): Promise<boolean> {
  const consumer = await local.js.consumers.get(Streams.REMOTE, {
    filter_subjects: remoteSubjects(sid).session,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: afterSeq + 1,
  });
  const messages = await consumer.consume();
  const timer = setTimeout(() => messages.stop(), timeoutMs);
  try {
    for await (const m of messages) {
      const e = remoteRegistry.parse(m.data);
      if (until(e)) return true;
    }
    return false;
  } finally {
    clearTimeout(timer);
    messages.stop();
  }
}

/** Waits until the sync pairs of session `sid` have left the view (sync removes them on `SessionRemoved`). */
async function syncPairsGone(local: Local, sid: string, timeoutMs: number): Promise<boolean> {
  const kv = await new Kvm(local.nc).open(Buckets.syncPairs);
  const left = new Set<string>();
  for await (const key of await kv.keys()) if (sessionIdOfPair(key) === sid) left.add(key);
  if (left.size === 0) return true;
  const watch = await kv.watch({ key: ">" });
  const timer = setTimeout(() => watch.stop(), timeoutMs);
  try {
    for await (const e of watch) {
      if (e.operation !== "PUT") left.delete(e.key);
      if (left.size === 0) return true;
    }
    return false;
  } finally {
    clearTimeout(timer);
    watch.stop();
  }
}

function printFailure(e: Extract<RemoteEvent, { type: "SessionFailed" }>): void {
  console.error(`cocalc-plus ssh: ${e.data.message} [${e.data.code}]`);
  if (e.data.sshOutput) {
    console.error("ssh said:");
    for (const line of e.data.sshOutput.split("\n")) console.error(`  ${line}`);
  }
}

async function connect(cmd: Extract<SshCommand, { command: "ssh-connect" }>): Promise<number> {
  const sid = sessionIdOf(cmd.target);
  if (cmd.dryRun) return dryRun(cmd);
  let local: Local;
  try {
    local = await connectLocal(cmd.dataDir);
  } catch (err) {
    return fail((err as Error).message);
  }
  try {
    // In a terminal, what ssh asks (a password, a passphrase, a new host key) is asked here.
    const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true;
    const seq = await command(local, "ConnectSession", {
      target: cmd.target,
      options: cmd.options,
      mode: { install: cmd.install, upgrade: cmd.upgrade, forwardOnly: cmd.forwardOnly },
      ...(interactive && { interactive: true }),
    });
    const answer = async (ask: string, prompt: string, secret: boolean) => {
      const a = await askInTerminal(prompt, secret);
      const subject = workspaceSubjects(local.wsid).request(ServiceNames.remote);
      const body = { op: "answer", sid, ask, ...(a !== undefined && { answer: a }) };
      await local.nc
        .request(subject, JSON.stringify(body), { timeout: 10_000 })
        .catch(() => undefined);
    };
    let outcome: { ok: true; port: number } | { ok: false } | undefined;
    // Only the attempt of this request answers it: not the service's own retries, nor an
    // earlier request's attempt that was still running.
    const other = (e: { data: { request?: number } }) => e.data.request !== seq;
    const done = await follow(local, sid, seq, CONNECT_TIMEOUT_MS, (e) => {
      switch (e.type) {
        case "SessionProgressed":
          if (e.data.command !== undefined) console.error(`  $ ${e.data.command}`);
          else console.error(`  ${e.data.message}`);
          return false;
        case "SessionAsked":
          if (interactive) void answer(e.data.ask, e.data.prompt, e.data.secret);
          else
            console.error(
              `  ssh asks: ${e.data.prompt.trim()} (answer it on the Remote sessions page)`,
            );
          return false;
        case "SessionConnected":
          console.error(
            e.data.installed
              ? `  installed and started cocalc-plus ${e.data.remoteVersion} on ${e.data.os} ${e.data.arch} (pid ${e.data.remotePid})`
              : e.data.reused
                ? `  reusing the running cocalc-plus ${e.data.remoteVersion} (pid ${e.data.remotePid}, remote port ${e.data.remotePort})`
                : `  started cocalc-plus ${e.data.remoteVersion} (pid ${e.data.remotePid})`,
          );
          return false;
        case "TunnelStarted":
          if (other(e)) return false;
          outcome = { ok: true, port: e.data.localPort };
          return true;
        case "SessionFailed":
          if (other(e)) return false;
          printFailure(e);
          outcome = { ok: false };
          return true;
        case "SessionStopped":
        case "SessionRemoved":
          console.error(
            `cocalc-plus ssh: the session was ${e.type === "SessionStopped" ? "stopped" : "removed"} meanwhile`,
          );
          outcome = { ok: false };
          return true;
        default:
          return false;
      }
    });
    if (!done || !outcome) return fail(`no answer from ${cmd.target} in time`);
    if (!outcome.ok) return 1;
    const token = (await readFile(remoteTokenFile(cmd.dataDir, sid), "utf8")).trim();
    const url = `http://127.0.0.1:${outcome.port}/?token=${token}`;
    console.log(`cocalc-plus on ${cmd.target} ready: ${url}`);
    console.error(
      `it keeps running there when this tunnel closes; stop it with: cocalc-plus ssh stop ${cmd.target}`,
    );
    // Where the remote sessions are managed: the local plus's own page.
    const { tokenCli } = await import("./token.js");
    console.error(`remote sessions: ${await tokenCli(cmd.dataDir, false)}#remote`);
    if (cmd.open && !(await openBrowser(url, cmd.dataDir)))
      console.error("(open that URL in your browser)");
    return 0;
  } catch (err) {
    if (err instanceof ReplyError) return fail(`${err.message} [${err.payload.code}]`);
    return fail((err as Error).message);
  } finally {
    await local.close();
  }
}

function dryRun(cmd: Extract<SshCommand, { command: "ssh-connect" }>): number {
  const ssh = new SshClient({
    target: parseTarget(cmd.target),
    label: cmd.target,
    options: cmd.options,
    controlDir: sessionControlDir(cmd.dataDir),
  });
  const lp = cmd.options.localPort ?? "LOCAL_PORT";
  const rp = cmd.options.remotePort ?? "REMOTE_PORT";
  const lines = [
    `would connect to ${cmd.target} (nothing runs with --dry-run):`,
    `1. start the local cocalc-plus on ${cmd.dataDir} unless it runs`,
    `2. open the ssh control connection:\n   ${ssh.describe([...ssh.argv([]).slice(0, -1), "-o", "ControlMaster=yes", "-N", cmd.target.split("@").pop()!])}`,
    `3. inspect the remote (uname, node, installed versions, a running daemon):\n   ${ssh.describe(ssh.argv([], "<probe script>"))}`,
    cmd.forwardOnly
      ? "4. (--forward-only: no install, no start)"
      : `4. ${cmd.install ? "if plus is missing or older, copy this bundle" : "(--no-install: fail if plus is missing)"} into ~/${REMOTE_INSTALL_ROOT}/<version>/ and start it on 127.0.0.1:${rp} with its token in a 0600 file${cmd.upgrade ? " (--upgrade: stop and replace another version)" : ""}`,
    `5. forward the local port:\n   ${ssh.describe(ssh.argv(["-O", "forward", "-L", `127.0.0.1:${lp}:127.0.0.1:${rp}`]))}`,
    `6. wait for HTTP 200 through the tunnel, print the URL${cmd.open ? " and open the browser" : ""}`,
  ];
  console.log(lines.join("\n"));
  return 0;
}

function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "-";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/**
 * The sessions as the local plus last saw them, when it does not run (list and status start
 * none only to ask): nothing runs, so no tunnel does; a failed session stays failed.
 */
async function offlineViews(dataDir: string): Promise<RemoteSessionView[]> {
  const { sessions } = await readSessionsSnapshot(dataDir);
  return sessions.map((v) => {
    const { tunnelPid: _t, ...rest } = v;
    return { ...rest, status: v.status === "failed" ? "failed" : "stopped" };
  });
}

function offlineNote(dataDir: string): void {
  console.error(
    `the local cocalc-plus is not running on ${dataDir}, so no session is connected; these are its sessions as it last saw them (it reconnects the ones that were running when it starts: cocalc-plus --daemon --data-dir ${dataDir})`,
  );
}

/** The STATUS of a session: while plus is down, one that is to run says it waits for plus. */
function statusText(v: RemoteSessionView, offline: boolean): string {
  if (offline && v.status === "stopped" && v.desired === "running")
    return "stopped (reconnects when plus starts)";
  if (v.status === "reconnecting" && v.error?.attempt !== undefined)
    return `reconnecting (attempt ${v.error.attempt + 1} of ${v.error.maxAttempts})`;
  return v.status;
}

async function liveViews(local: Local): Promise<RemoteSessionView[]> {
  const kv = await new Kvm(local.nc).open(Buckets.remoteSessions);
  const views: RemoteSessionView[] = [];
  for await (const k of await kv.keys()) {
    const e = await kv.get(k);
    if (e && e.operation === "PUT" && e.length > 0) views.push(e.json<RemoteSessionView>());
  }
  return views;
}

/** Runs `read` on the running plus's views, or on the file it keeps when none runs. */
async function withViews<T>(
  dataDir: string,
  read: (views: RemoteSessionView[], local: Local | undefined) => Promise<T>,
): Promise<T> {
  if ((await runningPid(dataDir)) === undefined)
    return read(await offlineViews(dataDir), undefined);
  const local = await connectLocal(dataDir);
  try {
    return await read(await liveViews(local), local);
  } finally {
    await local.close();
  }
}

async function list(dataDir: string, json: boolean): Promise<number> {
  return withViews(dataDir, async (views, local) => {
    views.sort((a, b) => a.target.localeCompare(b.target));
    if (!local) offlineNote(dataDir);
    if (json) {
      console.log(JSON.stringify(views, null, 2));
      return 0;
    }
    if (views.length === 0) {
      console.log("no remote sessions; start one with: cocalc-plus ssh [user@]host[:port]");
      return 0;
    }
    const rows = [["TARGET", "STATUS", "LOCAL PORT", "REMOTE VERSION", "LAST USED"]];
    for (const v of views) {
      rows.push([
        `${v.starred ? "* " : ""}${v.target}`,
        statusText(v, !local),
        v.localPort !== undefined ? String(v.localPort) : "-",
        v.remoteVersion !== undefined
          ? `${v.remoteVersion}${v.versionMismatch ? ` (this is ${v.localVersion})` : ""}`
          : "-",
        ago(v.lastUsed),
      ]);
    }
    console.log(table(rows));
    return 0;
  });
}

/** The last error of a session, with where its retries are. */
function errorText(e: NonNullable<RemoteSessionView["error"]>): string {
  const retry =
    e.attempt === undefined
      ? ""
      : e.retryAt !== undefined
        ? ` (attempt ${e.attempt} of ${e.maxAttempts}; the next at ${e.retryAt})`
        : "";
  return `${e.message} [${e.code}]${retry}`;
}

async function status(dataDir: string, target: string): Promise<number> {
  const sid = sessionIdOf(target);
  return withViews(dataDir, async (views, local) => {
    const v = views.find((x) => x.sid === sid);
    if (!v) return fail(`no remote session ${target} [ERR_REMOTE_NOT_FOUND]`);
    if (!local) offlineNote(dataDir);
    let answers = local ? "-" : "no (the local cocalc-plus is not running)";
    if (local && v.status === "running" && v.localPort !== undefined) {
      try {
        const res = await fetch(`http://127.0.0.1:${v.localPort}/healthz`, {
          signal: AbortSignal.timeout(5000),
        });
        answers = res.status === 200 ? "yes (HTTP 200 through the tunnel)" : `HTTP ${res.status}`;
        await res.body?.cancel();
      } catch (err) {
        answers = `no (${String((err as Error).cause ?? err)})`;
      }
    }
    const rows: [string, string][] = [
      ["target", v.target],
      ["status", statusText(v, !local)],
      ["answers", answers],
      ["local port", v.localPort !== undefined ? String(v.localPort) : "-"],
      ["remote port", v.remotePort !== undefined ? String(v.remotePort) : "-"],
      ["remote pid", v.remotePid !== undefined ? String(v.remotePid) : "-"],
      [
        "remote version",
        v.remoteVersion !== undefined
          ? `${v.remoteVersion}${v.versionMismatch ? ` (this is ${v.localVersion}: cocalc-plus ssh ${v.target} --upgrade)` : ""}`
          : "-",
      ],
      ["remote", v.os !== undefined ? `${v.os} ${v.arch}, home ${v.remoteHome}` : "-"],
      [
        "tunnel",
        v.tunnelPid !== undefined ? `ssh pid ${v.tunnelPid}, ${v.tunnelRestarts} restarts` : "-",
      ],
      ["last used", `${v.lastUsed} (${ago(v.lastUsed)})`],
    ];
    if (v.error) rows.push(["last error", errorText(v.error)]);
    const w = Math.max(...rows.map((r) => r[0].length));
    for (const [k, val] of rows) console.log(`${k.padEnd(w)}  ${val}`);
    return 0;
  });
}

async function stopOrRemove(dataDir: string, target: string, remove: boolean): Promise<number> {
  const local = await connectLocal(dataDir);
  const sid = sessionIdOf(target);
  try {
    const seq = await command(local, remove ? "RemoveSession" : "StopSession", { sid });
    let message = "";
    const done = await follow(local, sid, seq, STOP_TIMEOUT_MS, (e) => {
      if (e.type === "SessionProgressed") console.error(`  ${e.data.message}`);
      if (!remove && e.type === "SessionStopped") {
        message = e.data.message;
        return true;
      }
      if (remove && e.type === "SessionRemoved") {
        message = e.data.message;
        return true;
      }
      return false;
    });
    if (!done) return fail(`${target} did not ${remove ? "go" : "stop"} in time`);
    if (remove && !(await syncPairsGone(local, sid, STOP_TIMEOUT_MS)))
      return fail(`the sync pairs of ${target} were not removed in time`);
    console.log(message);
    return 0;
  } catch (err) {
    if (err instanceof ReplyError) return fail(`${err.message} [${err.payload.code}]`);
    return fail((err as Error).message);
  } finally {
    await local.close();
  }
}

/** Removes the installed bundle cache; the data directory only with --purge. */
async function uninstall(dataDir: string, purge: boolean): Promise<number> {
  const pid = await runningPid(dataDir);
  if (pid !== undefined) {
    const code = await new Promise<number | null>((r) =>
      spawn(process.execPath, [process.argv[1]!, "stop", "--terminals", "--data-dir", dataDir], {
        stdio: "inherit",
      }).once("close", r),
    );
    if (code !== 0) return fail("could not stop the running cocalc-plus; nothing was removed");
  }
  const cache = join(process.env.HOME || homedir(), REMOTE_INSTALL_ROOT);
  await rm(cache, { recursive: true, force: true });
  console.log(`removed the installed bundles and cache: ${cache}`);
  if (purge) {
    await rm(dataDir, { recursive: true, force: true });
    console.log(`removed the data (--purge): ${dataDir}`);
  } else {
    console.log(`kept the data: ${dataDir} (remove it too with --purge)`);
  }
  console.log(
    "if you installed cocalc-plus with npm, remove the command too: npm uninstall -g cocalc-ai",
  );
  return 0;
}

export async function runSsh(cmd: SshCommand): Promise<number> {
  try {
    switch (cmd.command) {
      case "ssh-help":
        console.log(SSH_HELP);
        return 0;
      case "ssh-connect":
        return await connect(cmd);
      case "ssh-list":
        return await list(cmd.dataDir, cmd.json);
      case "ssh-status":
        return await status(cmd.dataDir, cmd.target);
      case "ssh-stop":
        return await stopOrRemove(cmd.dataDir, cmd.target, false);
      case "ssh-rm":
        return await stopOrRemove(cmd.dataDir, cmd.target, true);
      case "uninstall":
        return await uninstall(cmd.dataDir, cmd.purge);
      default: {
        const never: never = cmd;
        return never;
      }
    }
  } catch (err) {
    return fail((err as Error).message);
  }
}
