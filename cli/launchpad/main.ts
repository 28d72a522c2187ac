#!/usr/bin/env node
/** The `cocalc-launchpad` command. */
import { join } from "node:path";
import {
  HUB_SESSION_IDLE_MS,
  HUB_SESSION_LIFETIME_MS,
} from "../../services/gateway/browser-sessions.js";
import type { Logger } from "../../services/runtime/logger.js";
import { CocalcError } from "../../shared/errors.js";
import { cliLogger, silentLogger } from "../common/logger.js";
import { table } from "../common/table.js";
import { failed, runMain } from "../common/usage.js";
import { type HostOptions, type HubOptions, LAUNCHPAD_HELP, parseLaunchpadCli } from "./args.js";

function makeLogger(opts: { dataDir: string; logLevel: string }): Logger {
  return cliLogger({ file: join(opts.dataDir, "logs", "launchpad.log"), level: opts.logLevel });
}

const progress = (line: string) => console.error(`cocalc-launchpad: ${line}`);

/**
 * Starts something that runs until a signal: signals are handled from the first moment (one
 * that arrives during start-up stops it as soon as it is up), then it is stopped gracefully.
 */
async function runUntilSignalled<T extends { stop(): Promise<void> }>(
  start: () => Promise<T>,
  ready: (running: T) => string,
): Promise<number> {
  let signalled: string | undefined;
  let onSignal: (s: string) => void = (s) => {
    signalled ??= s;
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, () => onSignal(s));
  let running: T;
  try {
    running = await start();
  } catch (err) {
    const message = err instanceof CocalcError ? err.message : String((err as Error)?.stack ?? err);
    console.error(`cocalc-launchpad: ${message}`);
    return 1;
  }
  console.log(ready(running));
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      progress(`${signal}, stopping…`);
      running.stop().then(
        () => resolve(0),
        (err) => {
          console.error(`cocalc-launchpad: error while stopping: ${err}`);
          resolve(1);
        },
      );
    };
    onSignal = stop;
    if (signalled) stop(signalled);
  });
}

async function runHost(opts: HostOptions): Promise<number> {
  const log = makeLogger(opts);
  return runUntilSignalled(
    async () => {
      const { startLaunchpadHost } = await import("./host.js");
      return startLaunchpadHost(opts, log, progress);
    },
    (host) =>
      `cocalc-launchpad host ${host.hostId} ready: btrfs ${host.root}, nats ${host.natsUrl}`,
  );
}

/** A duration for people: whole days when it is, else hours, minutes or seconds. */
function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  for (const [unit, n] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const)
    if (s % n === 0) return `${s / n}${unit}`;
  return `${s}s`;
}

async function runHub(opts: HubOptions): Promise<number> {
  const log = makeLogger(opts);
  return runUntilSignalled(
    async () => {
      const { startHub } = await import("./hub.js");
      return startHub(opts, log, progress);
    },
    (hub) =>
      [
        `cocalc-launchpad hub ready: ${hub.url}`,
        `  data dir ${hub.dataDir}; nats ${hub.natsUrl}; leaf nodes ${hub.leafUrl}; ${hub.fingerprint ? `HTTPS, certificate SHA-256 ${hub.fingerprint}` : "plain HTTP on loopback"}`,
        `  browsers signed out after ${duration(opts.sessionIdleMs ?? HUB_SESSION_IDLE_MS)} unused, ${duration(opts.sessionLifetimeMs ?? HUB_SESSION_LIFETIME_MS)} after signing in`,
        ...(hub.setupUrl
          ? [`  no admin yet: open ${hub.setupUrl} to make the first one (the link works once)`]
          : []),
      ].join("\n"),
  );
}

async function main(argv: string[]): Promise<number> {
  const cmd = parseLaunchpadCli(argv);
  switch (cmd.command) {
    case "help":
      console.log(LAUNCHPAD_HELP);
      return 0;
    case "hub":
      return runHub(cmd);
    case "hub-ssh-key": {
      const { hubSshKeyCli } = await import("./hub-accounts.js");
      try {
        return await hubSshKeyCli(cmd);
      } catch (err) {
        return failed("cocalc-launchpad", err);
      }
    }
    case "hub-account": {
      const { hubAccountCli } = await import("./hub-accounts.js");
      try {
        return await hubAccountCli(cmd);
      } catch (err) {
        return failed("cocalc-launchpad", err);
      }
    }
    case "host":
      return runHost(cmd);
    case "hub-token": {
      const { issueHostToken } = await import("./hub.js");
      try {
        const t = await issueHostToken(cmd, silentLogger());
        console.log(
          `registration token for host ${t.hostId} written to ${cmd.out} (expires ${t.expiresAt}); join with: cocalc-launchpad host --join ${cmd.out} …`,
        );
        return 0;
      } catch (err) {
        return failed("cocalc-launchpad", err);
      }
    }
    case "hub-tokens": {
      const { listHostTokens, revokeHostToken } = await import("./hub.js");
      const log = silentLogger();
      try {
        if (cmd.action === "revoke") {
          const t = await revokeHostToken(cmd.dataDir, cmd.tokenId, log);
          console.log(`token ${t.tokenId} (host ${t.hostId}) revoked`);
          return 0;
        }
        const rows = [
          ["TOKEN", "HOST", "STATUS", "ISSUED", "EXPIRES", "JOINED", "REVOKED"],
          ...(await listHostTokens(cmd.dataDir, log)).map((t) => [
            t.tokenId,
            t.hostId,
            t.status,
            t.issuedAt,
            t.expiresAt,
            t.joinedAt ?? "",
            t.revoked ? `${t.revoked.at} (${t.revoked.reason})` : "",
          ]),
        ];
        console.log(table(rows));
        return 0;
      } catch (err) {
        return failed("cocalc-launchpad", err);
      }
    }
    case "workspace":
    case "image":
    case "account":
    case "hosts": {
      const { runClient } = await import("./client.js");
      try {
        return await runClient(cmd);
      } catch (err) {
        return failed("cocalc-launchpad", err);
      }
    }
    default: {
      const never: never = cmd;
      return never;
    }
  }
}

runMain("cocalc-launchpad", main);
