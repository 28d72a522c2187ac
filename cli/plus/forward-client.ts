import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type ForwardView,
  forwardIdFor,
  forwardSummary,
  parseDirection,
  parsePort,
} from "../../shared/forwards.js";
import { sessionIdOf } from "../../shared/remote.js";
import { Buckets, ServiceNames } from "../../shared/subjects.js";
import { table } from "../common/table.js";
import { UsageError } from "../common/usage.js";
import type { ForwardCliOptions } from "./args.js";
import { connectPlus, sendCommand } from "./client.js";

export const FORWARD_HELP = `cocalc-plus forward — keep ports forwarded over a remote session's SSH connection.

  cocalc-plus forward add LOCAL_PORT [REMOTE_PORT] --session [user@]host[:port]
        [--direction remote-to-local|local-to-remote] [--name NAME]
  cocalc-plus forward list [--json]
  cocalc-plus forward rm FORWARD|LOCAL_PORT [--session [user@]host[:port]]

remote-to-local (the default, like ssh -L) makes a service that listens on the remote's
127.0.0.1:REMOTE_PORT reachable here as http://localhost:LOCAL_PORT/; local-to-remote (ssh -R)
makes this machine's 127.0.0.1:LOCAL_PORT reachable on the remote as 127.0.0.1:REMOTE_PORT.
REMOTE_PORT defaults to LOCAL_PORT. A forward runs while its session runs and is restarted
when it dies; removing the session removes its forwards.`;

/** Checks what can be checked before plus is asked: bad ports and directions exit with 2. */
export function checkForwardArgs(o: ForwardCliOptions): void {
  const usage = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new UsageError(`${(err as Error).message}${code ? ` (${code})` : ""}`);
    }
  };
  if (o.action === "add") {
    if (!o.session) throw new UsageError("forward add needs --session [user@]host[:port]");
    const [local, remote] = o.args;
    if (local === undefined) throw new UsageError("forward add needs the LOCAL_PORT");
    usage(() => parsePort(local, "local port"));
    if (remote !== undefined) usage(() => parsePort(remote, "remote port"));
    usage(() => parseDirection(o.direction));
    usage(() => sessionIdOf(o.session!));
  }
  if (o.action === "rm" && o.args[0] === undefined)
    throw new UsageError("forward rm needs a FORWARD id or LOCAL_PORT");
}

/** Every forward in the view, by session then local port. */
export async function listForwards(nc: NatsConnection): Promise<ForwardView[]> {
  const kv = await new Kvm(nc).open(Buckets.portForwards);
  const out: ForwardView[] = [];
  for await (const key of await kv.keys()) {
    const e = await kv.get(key);
    if (e?.operation === "PUT" && e.length > 0) out.push(e.json<ForwardView>());
  }
  return out.sort((a, b) => a.session.localeCompare(b.session) || a.local - b.local);
}

/** The status column: `up`, `restarting (2 restarts): why`, … */
export function forwardStatusText(f: ForwardView): string {
  const restarts = f.restarts > 0 ? ` (${f.restarts} restart${f.restarts === 1 ? "" : "s"})` : "";
  const why = f.status !== "up" && f.error ? `: ${f.error.message}` : "";
  return `${f.status}${restarts}${why}`;
}

/** Runs one forward command; prints to `out`. Throws with a message for people. */
export async function forwardCli(o: ForwardCliOptions, out = process.stdout): Promise<void> {
  checkForwardArgs(o);
  const { nc, run } = await connectPlus(o.dataDir, "cocalc-plus forward");
  try {
    switch (o.action) {
      case "list": {
        const all = await listForwards(nc);
        if (o.json) {
          out.write(`${JSON.stringify(all, null, 2)}\n`);
          return;
        }
        if (all.length === 0) {
          out.write("no port forwards\n");
          return;
        }
        const rows = [["FORWARD", "SESSION", "PORTS", "NAME", "STATUS"]];
        for (const f of all)
          rows.push([f.forward, f.session, forwardSummary(f), f.name ?? "", forwardStatusText(f)]);
        out.write(`${table(rows)}\n`);
        return;
      }
      case "add": {
        const [localText, remoteText] = o.args;
        const local = parsePort(localText, "local port");
        const remote = remoteText === undefined ? local : parsePort(remoteText, "remote port");
        const direction = parseDirection(o.direction);
        await sendCommand(nc, run.wsid, ServiceNames.forwards, "AddForward", {
          session: o.session,
          local,
          remote,
          direction,
          ...(o.name !== undefined && { name: o.name }),
        });
        const fid = forwardIdFor(sessionIdOf(o.session!), { direction, local, remote });
        out.write(
          `added port forward ${fid}: ${forwardSummary({ direction, local, remote })} (${o.session})\n`,
        );
        return;
      }
      case "rm": {
        const ref = o.args[0]!;
        const all = await listForwards(nc);
        let matches = all.filter((f) => f.forward === ref);
        if (matches.length === 0 && /^\d{1,5}$/.test(ref)) {
          const sid = o.session !== undefined ? sessionIdOf(o.session) : undefined;
          matches = all.filter(
            (f) => f.local === Number(ref) && (sid === undefined || f.sid === sid),
          );
        }
        if (matches.length > 1)
          throw new UsageError(
            `local port ${ref} is in several forwards (${matches.map((f) => f.forward).join(", ")}); name the forward id or --session`,
          );
        const f = matches[0];
        if (!f)
          throw new Error(
            `no port forward ${ref} (see cocalc-plus forward list) (ERR_FORWARD_NOT_FOUND)`,
          );
        await sendCommand(nc, run.wsid, ServiceNames.forwards, "RemoveForward", {
          forward: f.forward,
        });
        out.write(`${f.forward} ${forwardSummary(f)} (${f.session}): removed\n`);
        return;
      }
      default: {
        const never: never = o.action;
        return never;
      }
    }
  } finally {
    await nc.close();
  }
}
