/**
 * The log of a command that runs (plus, a launchpad hub or host), with the runtime's redaction
 * (services/runtime/logger.ts): secret fields never reach the file or stderr, however deep in
 * a logged object they sit.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import pino from "pino";
import { type Logger, REDACTION, setRootLogger } from "../../services/runtime/logger.js";

export interface CliLogOptions {
  /** JSON lines at `level` and above go here (its folder is made, 0700). */
  file: string;
  level: string;
  /** Warnings and worse also go here (default stderr); false: only the file. */
  console?: NodeJS.WritableStream | false;
}

/**
 * The log file. Its last lines are written synchronously at exit (sonic-boom's flushSync),
 * which retries a failed write for ever: on a full disk the process would never exit. While
 * the file's last write failed, the exit leaves what is unwritten; later writes try again, so
 * the log goes on once there is room.
 */
function fileDestination(file: string): pino.DestinationStream {
  const dest = pino.destination({ dest: file, sync: false });
  let failing = false;
  const flushSync = dest.flushSync.bind(dest);
  dest.flushSync = () => {
    if (!failing) flushSync();
  };
  dest.on("error", () => {
    failing = true;
  });
  dest.on("write", () => {
    failing = false;
  });
  return dest;
}

/** The process's root logger, which every service's logger is a child of. */
export function cliLogger(o: CliLogOptions): Logger {
  mkdirSync(dirname(o.file), { recursive: true, mode: 0o700 });
  const streams: pino.StreamEntry[] = [
    { level: o.level as pino.Level, stream: fileDestination(o.file) },
  ];
  const console = o.console ?? process.stderr;
  if (console !== false) streams.push({ level: "warn", stream: console });
  const log = pino(
    { level: o.level, base: { pid: process.pid }, redact: REDACTION },
    pino.multistream(streams),
  );
  setRootLogger(log);
  return log;
}

/** A logger that writes nothing, for a short command that needs one to connect. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
