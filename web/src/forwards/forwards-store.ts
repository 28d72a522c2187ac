/** The `port-forwards` view (every forward) and the commands that add and remove forwards. */
import { onCleanup } from "solid-js";
import { createStore, reconcile } from "solid-js/store";
import type { CommandReply } from "../../../shared/commands.js";
import type { AddForwardData, ForwardView } from "../../../shared/forwards.js";
import { Buckets, ServiceNames } from "../../../shared/subjects.js";
import { sendCommand } from "../lib/commands.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { watchKv } from "../lib/kv-watch.js";

export interface ForwardsState {
  /** Forwards by id. */
  forwards: Record<string, ForwardView>;
  /** The watch is failing (shown, not fatal: it retries). */
  problem: string | undefined;
}

export interface ForwardsStore {
  readonly state: ForwardsState;
  add(data: AddForwardData): Promise<CommandReply>;
  remove(forward: string): Promise<CommandReply>;
}

export function createForwardsStore(conn: WorkspaceConnection): ForwardsStore {
  const [state, setState] = createStore<ForwardsState>({ forwards: {}, problem: undefined });
  const stop = watchKv(conn, Buckets.portForwards, ">", {
    reset: () => setState("forwards", reconcile({})),
    entry: (e) => {
      if (e.operation !== "PUT" || e.length === 0) {
        setState("forwards", e.key, undefined!);
        return;
      }
      const value = e.json<ForwardView>();
      if (typeof value?.local !== "number" || typeof value.sid !== "string") {
        throw new Error("port-forwards view has an unexpected shape");
      }
      setState("forwards", e.key, reconcile(value));
    },
    problem: (message) => setState("problem", message),
  });
  onCleanup(stop);
  const send = (type: string, data: unknown) =>
    sendCommand(conn, ServiceNames.forwards, type, data);
  return {
    state,
    add: (data) => send("AddForward", data),
    remove: (forward) => send("RemoveForward", { forward }),
  };
}
