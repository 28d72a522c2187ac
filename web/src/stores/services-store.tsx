/** Health of the running services (KV `services`, one record per service instance). */
import {
  type Accessor,
  createContext,
  createMemo,
  createSignal,
  type JSX,
  onCleanup,
  useContext,
} from "solid-js";
import { createStore } from "solid-js/store";
import { type Liveness, livenessOf, type ServiceHealth } from "../../../shared/health.js";
import { Buckets } from "../../../shared/subjects.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { watchKvRecords } from "../lib/kv-watch.js";
import { useConnection } from "./connection-store.js";

/** How often liveness is judged again, so records whose heartbeat stopped turn stale. */
const REJUDGE_MS = 2000;

export interface ServiceRow {
  /** The KV key: `<service>.<instance>`. */
  key: string;
  health: ServiceHealth;
  liveness: Liveness;
}

/** Worst first: what the compact indicator shows. */
const SEVERITY: Record<Liveness, number> = {
  down: 0,
  stale: 1,
  starting: 2,
  stopped: 3,
  healthy: 4,
};

export interface ServicesStore {
  /** Records by KV key. */
  readonly records: Readonly<Record<string, ServiceHealth>>;
  /** Every instance with its liveness now, sorted by service name then instance. */
  readonly rows: Accessor<ServiceRow[]>;
  /** The worst liveness over all instances, or undefined when there are none. */
  readonly worst: Accessor<Liveness | undefined>;
  /** The watch is failing (it retries). */
  readonly problem: Accessor<string | undefined>;
}

export function createServicesStore(conn: WorkspaceConnection): ServicesStore {
  const [records, setRecords] = createStore<Record<string, ServiceHealth>>({});
  const [problem, setProblem] = createSignal<string>();
  const [now, setNow] = createSignal(Date.now());

  // A host's services view is every workspace's there: a hosted workspace's page shows the
  // workspace's state from the hub instead.
  const stop = conn.hosted
    ? () => undefined
    : watchKvRecords(conn, Buckets.services, ">", {
        set: setRecords,
        id: (key) => key,
        valid: isServiceHealth,
        what: "health record",
        problem: setProblem,
      });
  const timer = setInterval(() => setNow(Date.now()), REJUDGE_MS);
  onCleanup(() => {
    stop();
    clearInterval(timer);
  });

  const rows = createMemo(() => {
    const t = now();
    return Object.entries(records)
      .map(([key, health]) => ({ key, health, liveness: livenessOf(health, t) }))
      .sort(
        (a, b) =>
          a.health.service.localeCompare(b.health.service) ||
          a.health.instance.localeCompare(b.health.instance),
      );
  });
  const worst = createMemo(() =>
    rows().reduce<Liveness | undefined>(
      (w, r) => (w === undefined || SEVERITY[r.liveness] < SEVERITY[w] ? r.liveness : w),
      undefined,
    ),
  );
  return { records, rows, worst, problem };
}

function isServiceHealth(v: unknown): v is ServiceHealth {
  if (typeof v !== "object" || v === null) return false;
  const h = v as Record<string, unknown>;
  return (
    typeof h.service === "string" &&
    typeof h.instance === "string" &&
    typeof h.status === "string" &&
    typeof h.beatAt === "string" &&
    !Number.isNaN(Date.parse(h.beatAt)) &&
    typeof h.intervalMs === "number" &&
    typeof h.restarts === "number"
  );
}

const ServicesContext = createContext<ServicesStore>();

export function ServicesProvider(props: { children: JSX.Element }) {
  const store = createServicesStore(useConnection());
  return <ServicesContext.Provider value={store}>{props.children}</ServicesContext.Provider>;
}

export function useServices(): ServicesStore {
  const store = useContext(ServicesContext);
  if (!store) throw new Error("useServices called outside <ServicesProvider>");
  return store;
}
