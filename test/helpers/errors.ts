/** Checking what a call throws, by our error codes. */
import { CocalcError } from "../../shared/errors.js";

/** The code of the error `fn` throws: undefined when it throws nothing, a note when not ours. */
export function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CocalcError ? err.code : `not a CocalcError: ${err}`;
  }
  return undefined;
}
