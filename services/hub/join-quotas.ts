/**
 * What happens to a joining host's account cores quotas. Once joined, the control plane's
 * ledger is the one that counts, so a quota the host kept in its own ledger would be dropped
 * without a word (its accounts unlimited from then on).
 *
 * **Decision:** the join is refused, naming the accounts, unless the control plane already
 * has a quota for each of them; it never takes a host's number. A joining host is not
 * trusted, and an account's quota holds on every host: taking a host's quota where the
 * control plane has none would let any host that joins set (e.g. to 0) the quota of accounts
 * whose workspaces run on other hosts, and which host's number won would depend on who joined
 * first. Refusing changes nothing (the token stays unused), and the operator decides the
 * fleet's number with one command per account. Where both have a quota and they differ, the
 * control plane's applies and the join says so.
 */
import { CocalcError } from "../../shared/errors.js";
import { validateKeyToken } from "../../shared/subjects.js";

/** Accounts a join may name: more is not a host's ledger but a flood. */
const MAX_ACCOUNTS = 10_000;

/** The quotas a joining host sent with its join (`{ coresQuotas: { account: cores } }`). */
export function parseJoinQuotas(data: Uint8Array): Record<string, number> {
  let body: unknown;
  try {
    body = data.length === 0 ? {} : JSON.parse(new TextDecoder().decode(data));
  } catch {
    throw new CocalcError("ERR_COMMAND_INVALID", "a join request is not JSON");
  }
  const q = (body as { coresQuotas?: unknown } | null)?.coresQuotas ?? {};
  if (typeof q !== "object" || q === null || Array.isArray(q))
    throw new CocalcError("ERR_COMMAND_INVALID", "coresQuotas of a join is not an object");
  const entries = Object.entries(q);
  if (entries.length > MAX_ACCOUNTS)
    throw new CocalcError("ERR_COMMAND_INVALID", `a join names more than ${MAX_ACCOUNTS} accounts`);
  for (const [account, cores] of entries) {
    validateKeyToken(account, "account id");
    if (typeof cores !== "number" || !Number.isFinite(cores) || cores < 0)
      throw new CocalcError("ERR_COMMAND_INVALID", `the cores quota of ${account} is not a number`);
  }
  return q as Record<string, number>;
}

/**
 * Whether a host with these quotas may join, given the control plane's quotas of the same
 * accounts (null: none): refused with ERR_HOST_JOIN_QUOTA naming each account the control
 * plane has no quota for; otherwise the lines to show the host's operator. Pure.
 */
export function decideJoinQuotas(
  hostQuotas: Record<string, number>,
  controlPlane: Record<string, number | null>,
  controlPlaneDir = "CONTROL_PLANE_DIR",
): string[] {
  const accounts = Object.keys(hostQuotas).sort();
  const missing = accounts.filter((a) => (controlPlane[a] ?? null) === null);
  if (missing.length > 0)
    throw new CocalcError(
      "ERR_HOST_JOIN_QUOTA",
      `the host has cores quotas the control plane does not: ${missing
        .map((a) => `${a} (${hostQuotas[a]} cores)`)
        .join(
          ", ",
        )}; a joined host's quotas are the control plane's, so set them on the control plane first: ${missing
        .map(
          (a) =>
            `cocalc-launchpad account cores ${a} ${hostQuotas[a]} --data-dir ${controlPlaneDir}`,
        )
        .join("; ")}; then join again with the same token (it was not used)`,
    );
  return accounts
    .filter((a) => controlPlane[a] !== hostQuotas[a])
    .map(
      (a) =>
        `account ${a}: the control plane's cores quota ${controlPlane[a]} applies (this host had ${hostQuotas[a]})`,
    );
}
