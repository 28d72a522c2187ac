/**
 * Who sent a request, as nats-server tells the service that answers it. A request that
 * crosses a service import marked `share` gets the `Nats-Request-Info` header, written by the
 * server (one the sender put there is replaced), with the sender's user name. On a launchpad
 * host every browser's request comes through such an import of the hub's account, and the
 * hub names each browser user after its account (shared/hub.ts), so a host's service knows
 * which account asks without asking the hub.
 *
 * Only a host's own connections reach its services without crossing the import, and they can
 * put any header there: they are the host itself. In plus there is one user and no import;
 * what the header says is not used to decide anything there.
 */
import type { Msg } from "@nats-io/nats-core";
import { accountOfBrowserUser } from "../../shared/hub.js";

export const REQUEST_INFO_HEADER = "Nats-Request-Info";

/** The launchpad account whose browser sent `m`; undefined when no browser did. */
export function callerAccount(m: Msg): string | undefined {
  const info = m.headers?.get(REQUEST_INFO_HEADER);
  if (!info) return undefined;
  try {
    const parsed = JSON.parse(info) as { name_tag?: unknown };
    return typeof parsed.name_tag === "string" ? accountOfBrowserUser(parsed.name_tag) : undefined;
  } catch {
    return undefined;
  }
}
