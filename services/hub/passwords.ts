/** What the accounts service checks of passwords and secrets. */
import { createHash, timingSafeEqual } from "node:crypto";
import { CocalcError } from "../../shared/errors.js";

/** Passwords shorter than this are refused. */
export const MIN_PASSWORD = 10;

export function checkPassword(password: string): void {
  if ([...password].length < MIN_PASSWORD)
    throw new CocalcError(
      "ERR_HUB_PASSWORD_WEAK",
      `a password needs at least ${MIN_PASSWORD} characters`,
    );
}

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Compares two hex digests in constant time. */
export function equalHex(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}
