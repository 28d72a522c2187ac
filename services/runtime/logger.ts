import pino, { type Logger } from "pino";

export type { Logger } from "pino";

let root: Logger | undefined;

/** The process-wide logger. Level from COCALC_LOG_LEVEL (default "info"). */
export function rootLogger(): Logger {
  root ??= pino({
    level: process.env.COCALC_LOG_LEVEL ?? "info",
    base: { pid: process.pid },
    redact: {
      paths: ["token", "password", "pass", "seed", "*.token", "*.password", "*.pass", "*.seed"],
      censor: "[secret]",
    },
  });
  return root;
}

/** Replaces the process-wide logger (the CLI sends logs to a file in daemon mode). */
export function setRootLogger(logger: Logger): void {
  root = logger;
}

/** One child logger per service, with the service name as a field. */
export function serviceLogger(service: string): Logger {
  return rootLogger().child({ service });
}
