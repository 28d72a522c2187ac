import pino, { type Logger } from "pino";

export type { Logger } from "pino";

let root: Logger | undefined;

/** Field names whose values never reach a log, at any depth up to four. */
const SECRET_FIELDS = [
  "token",
  "password",
  "pass",
  "seed",
  "credential",
  "secret",
  "passwordHash",
  "authorization",
  "cookie",
] as const;

/** pino's redaction for every logger of the product: secret fields, also nested. */
export const REDACTION = {
  paths: SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `*.*.*.${f}`]),
  censor: "[secret]",
};

/** The process-wide logger. Level from COCALC_LOG_LEVEL (default "info"). */
export function rootLogger(): Logger {
  root ??= pino({
    level: process.env.COCALC_LOG_LEVEL ?? "info",
    base: { pid: process.pid },
    redact: REDACTION,
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
