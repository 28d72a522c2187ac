/**
 * Uploads write to a hidden temp file beside their target and rename it when complete. If
 * the process dies mid-upload the temp file would stay behind, so each upload in progress
 * leaves a marker naming its temp file here; the next start removes what the markers name.
 */
import { mkdir, readdir, readFile, unlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { randomId } from "../../shared/base64url.js";
import { UPLOAD_TEMP_PREFIX } from "../../shared/files.js";

export class UploadJournal {
  private constructor(private readonly dir: string) {}

  static async open(dir: string): Promise<UploadJournal> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new UploadJournal(dir);
  }

  /** Records that `tempPath` (absolute) is being written; returns the marker to end it with. */
  async begin(tempPath: string): Promise<string> {
    const marker = join(this.dir, randomId());
    await writeFile(marker, tempPath, { mode: 0o600 });
    return marker;
  }

  async end(marker: string): Promise<void> {
    await unlink(marker).catch(() => undefined);
  }

  /**
   * Removes the temp files of uploads that never ended (at start-up, before uploads are
   * accepted). Only files named like upload temps are touched. Returns how many were removed.
   * `remove` unlinks one (by default here; an fs service has its worker do it, as the user).
   */
  async sweep(remove: (tempPath: string) => Promise<void> = (p) => unlink(p)): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      const marker = join(this.dir, name);
      const temp = await readFile(marker, "utf8").catch(() => "");
      if (temp.startsWith("/") && basename(temp).startsWith(UPLOAD_TEMP_PREFIX)) {
        try {
          await remove(temp);
          removed++;
        } catch {
          // Already gone, or its folder was removed or renamed since: nothing to clean.
        }
      }
      await unlink(marker).catch(() => undefined);
    }
    return removed;
  }
}
