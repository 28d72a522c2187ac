/**
 * Whether plus's event store takes events: the store feed (core NATS) that the process
 * running nats-server publishes on while the disk is full, and once when it is not any more.
 */
import { type Accessor, createSignal, onCleanup } from "solid-js";
import type { StoreState } from "../../../shared/health.js";
import { workspaceSubjects } from "../../../shared/subjects.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { delay } from "../lib/delay.js";

function isStoreState(v: unknown): v is StoreState {
  const s = v as StoreState | null;
  return (
    typeof s === "object" &&
    s !== null &&
    (s.status === "ok" ||
      (s.status === "full" && typeof s.freeBytes === "number" && typeof s.path === "string"))
  );
}

/** The latest store state heard (undefined: nothing heard, i.e. nothing wrong). */
export function createStoreState(conn: WorkspaceConnection): Accessor<StoreState | undefined> {
  const [state, setState] = createSignal<StoreState>();
  const stopping = new AbortController();
  onCleanup(() => stopping.abort());
  // A hosted workspace's store is its host's, which does not publish to the page.
  if (conn.hosted) return state;
  const subject = workspaceSubjects(conn.wsid).storeFeed;
  void (async () => {
    while (!stopping.signal.aborted) {
      const nc = await conn.ready(stopping.signal);
      if (!nc) return;
      const sub = nc.subscribe(subject);
      const stop = () => sub.unsubscribe();
      stopping.signal.addEventListener("abort", stop, { once: true });
      try {
        for await (const m of sub) {
          let v: unknown;
          try {
            v = m.json();
          } catch {
            continue;
          }
          if (isStoreState(v)) setState(v);
        }
      } catch {
        // The client closed; a new one comes through ready().
      } finally {
        stopping.signal.removeEventListener("abort", stop);
      }
      await delay(250, stopping.signal);
    }
  })();
  return state;
}
