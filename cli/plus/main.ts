#!/usr/bin/env node
/** The `cocalc-plus` command. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../services/runtime/logger.js";
import {
  killOrphanNatsServer,
  locateNatsServer,
  natsServerVersion,
  natsVersionFile,
} from "../../services/runtime/nats-server.js";
import { CocalcError } from "../../shared/errors.js";
import { saveCodeCache } from "../bin/load-bundled.js";
import { isZombie, runningPid } from "../common/lock.js";
import { cliLogger } from "../common/logger.js";
import { failed, runMain } from "../common/usage.js";
import { VERSION } from "../common/version.js";
import { HELP, parseCli, type StartOptions } from "./args.js";
import { DAEMON_CHILD, logFile, startDaemonChild } from "./daemon.js";
import { openBrowser } from "./open-browser.js";
import type { PlusHandle } from "./server.js";

function makeLogger(opts: StartOptions): Logger {
  return cliLogger({
    file: logFile(opts.dataDir),
    level: opts.logLevel,
    // A daemon's stderr is its log file already.
    console: process.env[DAEMON_CHILD] ? false : process.stderr,
  });
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until the plus that holds `dataDir` has said where it runs (it may be starting). */
async function untilReady(dataDir: string): Promise<void> {
  const { runInfoFile } = await import("./server.js");
  for (let i = 0; i < 600; i++) {
    const pid = await runningPid(dataDir);
    if (pid === undefined) throw new Error(`the cocalc-plus on ${dataDir} stopped`);
    const run = await readFile(runInfoFile(dataDir), "utf8").then(
      (t) => JSON.parse(t) as { pid?: number },
      () => undefined,
    );
    if (run?.pid === pid) return;
    await sleep(100);
  }
  throw new Error(`the cocalc-plus on ${dataDir} did not finish starting in 60 s`);
}

/**
 * The running plus's sign-in URL, printed and opened in the browser (`cocalc-plus open`, and a
 * start on a data dir whose plus runs already).
 */
async function openRunning(dataDir: string, open: boolean): Promise<number> {
  let url: string;
  try {
    await untilReady(dataDir);
    const { tokenCli } = await import("./token.js");
    url = await tokenCli(dataDir, false);
  } catch (err) {
    return failed("cocalc-plus", err);
  }
  console.log(`cocalc-plus: ${url}`);
  if (open && !(await openBrowser(url, dataDir))) console.log("(open that URL in your browser)");
  return 0;
}

/** Starts a detached copy of ourselves and waits until it is ready (or failed). */
async function daemonize(opts: StartOptions, argv: string[]): Promise<number> {
  const existing = await runningPid(opts.dataDir);
  if (existing !== undefined) {
    console.log(`cocalc-plus is already running on ${opts.dataDir} (pid ${existing}).`);
    return openRunning(opts.dataDir, opts.open);
  }
  const log = logFile(opts.dataDir);
  const result = await startDaemonChild(
    process.argv[1]!,
    [...argv.filter((a) => a !== "--daemon"), "--no-open"],
    opts.dataDir,
  );
  if (!result.ok) {
    console.error(`cocalc-plus: ${result.message}`);
    return 1;
  }
  console.log(`cocalc-plus ready: ${result.url}`);
  console.log(
    `running in the background (pid ${result.pid}); logs: ${log}; stop: cocalc-plus stop --data-dir ${opts.dataDir}`,
  );
  if (opts.open) await openBrowser(result.url, opts.dataDir);
  return 0;
}

/** After plus stopped: end the terminals' pty host too, or say that it keeps running. */
async function stopTerminals(dataDir: string, terminals: boolean): Promise<void> {
  const { ptyHostPid, stopPtyHost } = await import("../../services/terminals/host-client.js");
  const dir = join(dataDir, "terminals");
  const pid = ptyHostPid(dir);
  if (pid === undefined) return;
  if (terminals) {
    await stopPtyHost(dir);
    console.log(`ended the terminals (pty host pid ${pid})`);
  } else {
    console.log(
      `terminals keep running (pty host pid ${pid}); the next start reattaches them. End them with: cocalc-plus stop --terminals --data-dir ${dataDir}`,
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !isZombie(pid);
}

async function stopRunning(dataDir: string, terminals = false): Promise<number> {
  const pid = await runningPid(dataDir);
  if (pid === undefined) {
    console.log(`no cocalc-plus is running on ${dataDir}`);
    await stopTerminals(dataDir, terminals);
    return 0;
  }
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 150; i++) {
    if ((await runningPid(dataDir)) === undefined) {
      // The lock goes before the process has exited; "stopped" means gone.
      for (let j = 0; j < 50 && alive(pid); j++) await sleep(100);
      console.log(`stopped cocalc-plus (pid ${pid})`);
      await stopTerminals(dataDir, terminals);
      return 0;
    }
    await sleep(100);
  }
  process.kill(pid, "SIGKILL");
  console.log(`cocalc-plus (pid ${pid}) did not stop in 15 s and was killed`);
  // A killed plus cannot stop its nats-server; it would keep the store and ports.
  const nats = await killOrphanNatsServer(join(dataDir, "nats"));
  if (nats !== undefined) console.log(`stopped its nats-server (pid ${nats})`);
  await stopTerminals(dataDir, terminals);
  return 0;
}

async function runForeground(opts: StartOptions): Promise<number> {
  const log = makeLogger(opts);
  // Signals are handled from the first moment: one that arrives during start-up stops plus
  // as soon as it is up, instead of killing it half-started.
  let signalled: string | undefined;
  let onSignal: (signal: string) => void = (signal) => {
    signalled ??= signal;
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, () => onSignal(s));
  let handle: PlusHandle;
  // On a new data dir this runs `nats-server --version`: now, while plus's code loads, instead
  // of when the server is about to start. Failures are startPlus's to report.
  try {
    natsServerVersion(locateNatsServer(opts.natsServer), natsVersionFile(opts.dataDir)).catch(
      () => undefined,
    );
  } catch {}
  try {
    const { startPlus } = await import("./server.js");
    // A daemon's child was started without --daemon; it still runs as the daemon.
    handle = await startPlus(process.env[DAEMON_CHILD] ? { ...opts, daemon: true } : opts, log);
  } catch (err) {
    // Another start won the data dir meanwhile: that one is opened.
    if (err instanceof CocalcError && err.code === "ERR_DATA_DIR_LOCKED" && !process.send) {
      console.log(`cocalc-plus is already running on ${opts.dataDir}.`);
      return openRunning(opts.dataDir, opts.open);
    }
    const message = err instanceof CocalcError ? err.message : String((err as Error)?.stack ?? err);
    log.error({ err }, "start failed");
    if (process.send) {
      process.send({ error: message });
      // The channel would keep a daemon that failed to start alive.
      process.disconnect?.();
    }
    console.error(`cocalc-plus: ${message}`);
    return 1;
  }
  log.info({ url: handle.url, dataDir: opts.dataDir }, "ready");
  // The code cache of a bundle that had none holds what this start ran (a no-op otherwise).
  setImmediate(saveCodeCache);
  if (process.send) {
    process.send({ ready: handle.signInUrl });
    process.disconnect?.();
  } else {
    console.log(`cocalc-plus ready: ${handle.signInUrl}`);
    if (opts.open && !(await openBrowser(handle.signInUrl, opts.dataDir)))
      console.log("(open that URL in your browser)");
  }
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        console.error("cocalc-plus: stopping now");
        handle.nats.stop(0).finally(() => resolve(130));
        return;
      }
      stopping = true;
      if (!process.env[DAEMON_CHILD]) console.error(`\ncocalc-plus: ${signal}, stopping…`);
      const force = setTimeout(() => {
        console.error("cocalc-plus: did not stop in 20 s; exiting");
        resolve(1);
      }, 20_000);
      force.unref();
      handle.stop().then(
        () => {
          clearTimeout(force);
          log.info("stopped");
          resolve(0);
        },
        (err) => {
          console.error(`cocalc-plus: error while stopping: ${err}`);
          resolve(1);
        },
      );
    };
    onSignal = stop;
    if (signalled) stop(signalled);
  });
}

async function main(argv: string[]): Promise<number> {
  const cmd = parseCli(argv);
  switch (cmd.command) {
    case "help":
      console.log(HELP);
      return 0;
    case "version":
      console.log(VERSION);
      return 0;
    case "stop":
      return stopRunning(cmd.dataDir, cmd.terminals);
    case "token":
      try {
        const { tokenCli } = await import("./token.js");
        console.log(await tokenCli(cmd.dataDir, cmd.rotate));
        return 0;
      } catch (err) {
        return failed("cocalc-plus", err);
      }
    case "events-tail":
      try {
        const { eventsTail } = await import("./events-tail.js");
        await eventsTail(cmd.dataDir, cmd.subject, cmd.since);
        return 0;
      } catch (err) {
        return failed("cocalc-plus", err);
      }
    case "sync-help": {
      const { SYNC_HELP } = await import("./sync-client.js");
      console.log(SYNC_HELP);
      return 0;
    }
    case "sync":
      try {
        const { syncCli } = await import("./sync-client.js");
        await syncCli(cmd);
        return 0;
      } catch (err) {
        return failed("cocalc-plus", err);
      }
    case "forward-help": {
      const { FORWARD_HELP } = await import("./forward-client.js");
      console.log(FORWARD_HELP);
      return 0;
    }
    case "forward":
      try {
        const { checkForwardArgs, forwardCli } = await import("./forward-client.js");
        checkForwardArgs(cmd);
        await forwardCli(cmd);
        return 0;
      } catch (err) {
        return failed("cocalc-plus", err);
      }
    case "sync-remote": {
      const { runRemoteCommand } = await import("../../services/sync/remote-cli.js");
      return runRemoteCommand(cmd.sub, cmd.args);
    }
    case "ssh-help":
    case "ssh-connect":
    case "ssh-list":
    case "ssh-status":
    case "ssh-stop":
    case "ssh-rm":
    case "uninstall": {
      const { runSsh } = await import("./ssh.js");
      return runSsh(cmd);
    }
    case "open":
      if ((await runningPid(cmd.dataDir)) === undefined) {
        console.error(`cocalc-plus: none is running on ${cmd.dataDir}; start it with cocalc-plus`);
        return 1;
      }
      return openRunning(cmd.dataDir, true);
    case "start": {
      if (cmd.daemon && !process.env[DAEMON_CHILD]) return daemonize(cmd, argv);
      const existing = process.env[DAEMON_CHILD] ? undefined : await runningPid(cmd.dataDir);
      if (existing !== undefined) {
        console.log(`cocalc-plus is already running on ${cmd.dataDir} (pid ${existing}).`);
        return openRunning(cmd.dataDir, cmd.open);
      }
      return runForeground(cmd);
    }
    default: {
      const never: never = cmd;
      return never;
    }
  }
}

runMain("cocalc-plus", main);
