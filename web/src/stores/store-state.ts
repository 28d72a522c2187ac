/**
 * Whether plus's event store takes events, and events it lost: asked for when the page
 * connects, then the store feed (core NATS) that the process running nats-server publishes on
 * while the disk is full, when it is not any more, and when a loss is found.
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
  // A hosted workspace's store is its host's: the host publishes to the workspace's feed.
  const { storeFeed: subject, storeRead } = workspaceSubjects(conn.wsid);
  void (async () => {
    while (!stopping.signal.aborted) {
      const nc = await conn.ready(stopping.signal);
      if (!nc) return;
      const sub = nc.subscribe(subject);
      const stop = () => sub.unsubscribe();
      stopping.signal.addEventListener("abort", stop, { once: true });
      // What it is now (a loss found before this page opened, a disk full since then).
      void nc
        .request(storeRead, "", { timeout: 5000 })
        .then((m) => {
          const v: unknown = m.json();
          if (isStoreState(v)) setState(v);
        })
        .catch(() => undefined);
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
