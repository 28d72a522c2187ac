/**
 * Whether nats-server lets a connection publish a subject: a permission violation for it (as
 * the server checked it) comes back on the connection's status, anything else (a reply, an
 * error answer, "no responders") means the publish went through.
 */
import {
  type NatsConnection,
  NoRespondersError,
  PermissionViolationError,
} from "@nats-io/nats-core";
import { HubWorkspaceSubjects } from "../../shared/hub-workspaces.js";
import { terminalSubjects, workspaceSubjects } from "../../shared/subjects.js";
import { newTerminalId } from "../../shared/terminals.js";

export type Outcome = "denied" | "allowed";

/** Permission violations the server reported on each watched connection, by subject. */
const violations = new WeakMap<NatsConnection, Map<string, () => void>>();

/** Starts listening for `nc`'s permission violations (once, right after it connects). */
export function watchViolations(nc: NatsConnection): void {
  const waiting = new Map<string, () => void>();
  violations.set(nc, waiting);
  void (async () => {
    for await (const st of nc.status()) {
      if (st.type !== "error" || !(st.error instanceof PermissionViolationError)) continue;
      waiting.get(st.error.subject)?.();
    }
  })();
}

/**
 * A request's fate. `checked` is the subject as the server checks it (its own JetStream
 * domain's API is mapped to the local form first); by default the subject itself.
 */
export async function publishOutcome(
  nc: NatsConnection,
  subject: string,
  body = "",
  checked = subject,
): Promise<Outcome> {
  const waiting = violations.get(nc);
  if (!waiting) throw new Error("connection without a violations watch");
  const denied = new Promise<Outcome>((r) => waiting.set(checked, () => r("denied")));
  const answered = nc.request(subject, body, { timeout: 10_000 }).then(
    () => "allowed" as const,
    (err: unknown) => {
      const cause = (err as { cause?: unknown }).cause;
      if (err instanceof NoRespondersError || cause instanceof NoRespondersError) return "allowed";
      if (err instanceof PermissionViolationError || cause instanceof PermissionViolationError)
        return "denied";
      throw err;
    },
  );
  try {
    return await Promise.race([denied, answered]);
  } finally {
    waiting.delete(checked);
  }
}

/**
 * One request of each kind that changes workspace `wsid` (with its terminal `tid`): what a
 * viewer's login must be refused by nats-server. `api` is the JetStream API prefix of the
 * workspace's host (`$JS.<domain>.API`), `reader` a consumer name the login may use,
 * `account` the viewer's account id.
 */
export function viewerChanges(
  wsid: string,
  tid: string,
  ids: { api: string; reader: string; account: string },
): [subject: string, body: unknown][] {
  const ws = workspaceSubjects(wsid);
  const term = terminalSubjects(wsid, tid);
  const { api, reader, account } = ids;
  const HOME = "/home/user";
  return [
    [ws.command("docs"), { type: "PatchDocument", data: {} }],
    [ws.request("fs"), { op: "write", path: `${HOME}/by-viewer.txt`, content: "x" }],
    [ws.request("fs-transfer"), { op: "upload" }],
    [term.input, "rm -rf ~\n"],
    [term.resize, { cols: 10, rows: 10 }],
    [ws.command("terminals"), { type: "OpenTerminal", data: { tid: newTerminalId() } }],
    [ws.command("workspace"), { type: "ChangeSettings", data: { title: "mine" } }],
    [ws.command("agents"), { type: "SubmitTurn", data: {} }],
    [ws.request("agents"), { op: "setKey", name: "x", value: "y" }],
    [ws.command("apps"), { type: "StartApp", data: { kind: "command", command: "true" } }],
    [ws.command("host"), { type: "StopWorkspace", data: {} }],
    [HubWorkspaceSubjects.command, { type: "StopHubWorkspace", data: { by: account, wsid } }],
    [ws.fsEvent("created"), {}],
    [`${api}.CONSUMER.CREATE.WS_FS.${reader}.ws.${wsid}.>`, {}],
    [`${api}.STREAM.MSG.GET.WS_FS`, { last_by_subj: `ws.${wsid}.fs.created` }],
  ];
}
