/** A context for the standard `nats` CLI, so `nats --context cocalc-plus stream ls` works. */
import { mkdir, readFile, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../common/files.js";

export function natsContextFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "nats", "context", "cocalc-plus.json");
}

export async function writeNatsContext(
  url: string,
  seedPath: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const file = natsContextFile(env);
  await mkdir(join(file, ".."), { recursive: true, mode: 0o700 });
  const context = { description: "cocalc-plus (services user)", url, nkey: seedPath };
  await writeFileAtomic(file, `${JSON.stringify(context, null, 2)}\n`);
  return file;
}

/** Removes the context if it still belongs to this instance (another plus may have replaced it since). */
export async function removeNatsContext(
  seedPath: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const file = natsContextFile(env);
  try {
    const context = JSON.parse(await readFile(file, "utf8")) as { nkey?: string };
    if (context.nkey === seedPath) await rm(file, { force: true });
  } catch {
    // gone or not ours to judge
  }
}
