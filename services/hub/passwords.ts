/** What the accounts service checks of passwords (secrets: secretHash() of private-store.ts). */
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
