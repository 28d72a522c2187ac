import { randomBytes } from "node:crypto";
import { chmod, rename, writeFile } from "node:fs/promises";

/** Writes a file atomically (temp + rename) with the given mode, so readers never see half of it. */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}
