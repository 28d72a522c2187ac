import { randomBytes } from "node:crypto";
import { chmod, rename, writeFile } from "node:fs/promises";

/** Writes a 0600 file atomically (temp + rename): a reader never sees half a token. */
export async function writeSecretFile(path: string, data: string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
