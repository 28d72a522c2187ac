/** A context for the standard `nats` CLI, so `nats --context cocalc-plus stream ls` works. */
import { mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "./files.js";

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
