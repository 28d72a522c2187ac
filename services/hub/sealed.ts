/**
 * Secrets the hub keeps at rest (agents' API keys), sealed with AES-256-GCM (node:crypto)
 * under a 32-byte key of the hub's own in a 0600 file. Each sealed value names what it is
 * for (`context`, authenticated with it), so a value copied to another record does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { CocalcError } from "../../shared/errors.js";
import { writeSecretFile } from "../runtime/secret-file.js";

const KEY_BYTES = 32;
const IV_BYTES = 12;
const FORMAT = "v1";

export class SealingKey {
  private constructor(private readonly key: Buffer) {}

  /** The key in `file`, made (0600) when there is none yet. */
  static async open(file: string): Promise<SealingKey> {
    let text: string | undefined;
    try {
      text = (await readFile(file, "utf8")).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    if (text === undefined) {
      text = randomBytes(KEY_BYTES).toString("base64");
      await writeSecretFile(file, `${text}\n`);
    }
    const key = Buffer.from(text, "base64");
    if (key.length !== KEY_BYTES)
      throw new CocalcError("ERR_HUB_SEALED", `${file} does not hold a ${KEY_BYTES}-byte key`);
    return new SealingKey(key);
  }

  seal(plain: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), data].map((p) => p.toString("base64url"));
    return [FORMAT, ...parts].join(".");
  }

  /** Throws ERR_HUB_SEALED when `sealed` was not made by this key for `context`. */
  open(sealed: string, context: string): string {
    const [format, iv, tag, data] = sealed.split(".");
    if (format !== FORMAT || !iv || !tag || data === undefined)
      throw new CocalcError("ERR_HUB_SEALED", "not a sealed value");
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([
        decipher.update(Buffer.from(data, "base64url")),
        decipher.final(),
      ]).toString("utf8");
    } catch {
      throw new CocalcError(
        "ERR_HUB_SEALED",
        "a sealed value does not open with the hub's key (another hub's, or changed)",
      );
    }
  }
}
