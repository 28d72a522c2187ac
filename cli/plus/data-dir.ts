/** Where plus keeps its state, for every command that takes --data-dir. */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { UsageError } from "../common/usage.js";

/** The default data directory: $XDG_DATA_HOME/cocalc-plus. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share");
  return join(base, "cocalc-plus");
}

/** --data-dir's value as an absolute path: the default when not given, refused when blank. */
export function dataDirOption(value: unknown, env: NodeJS.ProcessEnv): string {
  if (value !== undefined && String(value).trim() === "")
    throw new UsageError("--data-dir needs a value");
  return resolve((value as string | undefined) ?? defaultDataDir(env));
}
