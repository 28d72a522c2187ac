/**
 * Where a host reserves its workspaces' cores: the account aggregates of its own ACCOUNTS
 * stream (a host on its own), or the control plane's ledger (a host that joined one), so
 * that hosts starting workspaces of one account together cannot pass its quota.
 */
import type { NatsConnection } from "@nats-io/nats-core";
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

type Reply = { ok: true; seqs: number[] } | { ok: false; error: ErrorPayload };

/** How long a ledger request waits for the control plane (a leaf that is still connecting). */
const LEDGER_WAIT_MS = 20_000;

/**
 * The control plane's ledger, by request/reply on `coresledger.<hostId>`. A release that
 * cannot be delivered (the control plane is away) is kept and sent again by retry(): a stop
 * never fails for it, and the cores come back once the control plane hears it.
 */
export function remoteLedger(
  nc: NatsConnection,
  hostId: string,
  log: Logger,
  waitMs = LEDGER_WAIT_MS,
): CoresLedger {
  const subject = hostSubjects(hostId).ledger;
  const pending = new Map<string, { account: string; wsid: string }>();
  const ask = async (body: object): Promise<void> => {
    const deadline = Date.now() + waitMs;
    for (;;) {
      let reply: Reply;
      try {
        reply = (
          await nc.request(subject, JSON.stringify(body), {
            timeout: Math.max(1000, deadline - Date.now()),
          })
        ).json<Reply>();
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
  return {
    async reserve(h) {
      pending.delete(`${h.account}/${h.wsid}`);
      await ask({
        type: "ReserveCores",
        data: { account: h.account, wsid: h.wsid, cores: h.cores, ...(h.force && { force: true }) },
      });
    },
    async release(account, wsid) {
      try {
        await ask({ type: "ReleaseCores", data: { account, wsid } });
        pending.delete(`${account}/${wsid}`);
      } catch (err) {
        if (!(err instanceof CocalcError) || err.code !== "ERR_ACCOUNT_LEDGER") throw err;
        log.warn({ account, wsid, reason: err.message }, "cores not released yet; retrying");
        pending.set(`${account}/${wsid}`, { account, wsid });
      }
    },
    async retry() {
      for (const [key, p] of [...pending]) {
        try {
          await ask({ type: "ReleaseCores", data: p });
          if (pending.get(key) === p) pending.delete(key);
        } catch {
          return;
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
