/**
 * Where a host reserves its workspaces' cores: the account aggregates of its own ACCOUNTS
 * stream (a host on its own), or the control plane's ledger (a host that joined one), so
 * that hosts starting workspaces of one account together cannot pass its quota.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { type Reply, requestReply } from "../../shared/command-client.js";
import { CocalcError, type ErrorCode, ErrorCodes, type ErrorPayload } from "../../shared/errors.js";
import { accountSubjects, hostSubjects } from "../../shared/subjects.js";
import type { AggregateStore } from "../runtime/aggregate.js";
import type { Logger } from "../runtime/logger.js";
import type { AccountCommand, AccountDecided, AccountState } from "./accounts.js";

export interface Hold {
  account: string;
  wsid: string;
  cores: number;
  force?: boolean;
}

export interface CoresLedger {
  /** Refused with ERR_ACCOUNT_CORES_QUOTA (changing nothing) above the account's quota. */
  reserve(hold: Hold, meta: { actor: string; at: string }): Promise<void>;
  release(account: string, wsid: string, meta: { actor: string; at: string }): Promise<void>;
  /** Releases that could not be delivered yet, sent again (a remote ledger that was away). */
  retry(): Promise<void>;
}

/** The host's own ACCOUNTS stream (one host, or several on one NATS). */
export function localLedger(
  hostId: string,
  store: AggregateStore<AccountCommand, AccountDecided, AccountState>,
): CoresLedger {
  return {
    async reserve(h, meta) {
      await store.execute(accountSubjects(h.account).cores, {
        type: "ReserveCores",
        data: { wsid: h.wsid, hostId, cores: h.cores, ...(h.force && { force: true }) },
        ...meta,
      });
    },
    async release(account, wsid, meta) {
      await store.execute(accountSubjects(account).cores, {
        type: "ReleaseCores",
        data: { wsid },
        ...meta,
      });
    },
    async retry() {},
  };
}

/** How long a ledger request waits for the control plane (a leaf that is still connecting). */
const LEDGER_WAIT_MS = 20_000;

/**
 * The control plane's ledger, by request/reply on `coresledger.<hostId>`. A release, or the
 * hold of a workspace that already runs (a restarted host), that cannot be delivered (the
 * control plane is away) is kept and sent again by retry(): a stop or a host's start never
 * fails for it. A new start is refused with ERR_ACCOUNT_LEDGER.
 */
export function remoteLedger(
  nc: NatsConnection,
  hostId: string,
  log: Logger,
  waitMs = LEDGER_WAIT_MS,
): CoresLedger {
  const subject = hostSubjects(hostId).ledger;
  /** Requests not delivered yet, the newest per workspace: releases, and holds of what runs. */
  const pending = new Map<string, object>();
  const ask = async (body: object): Promise<void> => {
    const deadline = Date.now() + waitMs;
    for (;;) {
      let reply: Reply;
      try {
        reply = await requestReply(nc, subject, body, {
          timeoutMs: Math.max(1000, deadline - Date.now()),
        });
      } catch (err) {
        // No responders: the leaf connection is not up yet or the control plane is away.
        if (Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          continue;
        }
        throw new CocalcError(
          "ERR_ACCOUNT_LEDGER",
          `the control plane's account ledger did not answer: ${(err as Error).message}`,
        );
      }
      if (!reply.ok) throw fromPayload(reply.error);
      return;
    }
  };
  const unreachable = (err: unknown) =>
    err instanceof CocalcError && err.code === "ERR_ACCOUNT_LEDGER";
  const reserveBody = (h: Hold) => ({
    type: "ReserveCores",
    data: { account: h.account, wsid: h.wsid, cores: h.cores, ...(h.force && { force: true }) },
  });
  const releaseBody = (account: string, wsid: string) => ({
    type: "ReleaseCores",
    data: { account, wsid },
  });
  return {
    async reserve(h) {
      const key = `${h.account}/${h.wsid}`;
      pending.delete(key);
      try {
        await ask(reserveBody(h));
      } catch (err) {
        // What already runs (a restarted host) is recorded when the control plane is back;
        // a new start is refused.
        if (!h.force || !unreachable(err)) throw err;
        log.warn(
          { account: h.account, wsid: h.wsid },
          "cores of a running workspace not recorded yet; retrying",
        );
        pending.set(key, reserveBody(h));
      }
    },
    async release(account, wsid) {
      const key = `${account}/${wsid}`;
      pending.delete(key);
      try {
        await ask(releaseBody(account, wsid));
      } catch (err) {
        if (!unreachable(err)) throw err;
        log.warn({ account, wsid }, "cores not released yet; retrying");
        pending.set(key, releaseBody(account, wsid));
      }
    },
    async retry() {
      for (const [key, body] of [...pending]) {
        try {
          await ask(body);
          if (pending.get(key) === body) pending.delete(key);
        } catch (err) {
          if (unreachable(err)) return;
          // Refused (not unreachable): nothing to send again.
          log.warn({ key, err }, "ledger refused a retried request");
          if (pending.get(key) === body) pending.delete(key);
        }
      }
    },
  };
}

/** An error that came over the wire, as a CocalcError (an unknown code stays visible in the text). */
export function fromPayload(e: ErrorPayload): CocalcError {
  return e.code in ErrorCodes
    ? new CocalcError(e.code as ErrorCode, e.message)
    : new CocalcError("ERR_ACCOUNT_LEDGER", `${e.message} (${e.code})`);
}
