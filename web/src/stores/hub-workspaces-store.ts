/**
 * The dashboard's views, watched live: the account's list of workspaces (`hub-memberships`),
 * and for each row on screen the hub's record of it, the hub's copy of its host's view and
 * its host's state. A workspace the page's JWT does not reach yet (just made, or just placed)
 * makes the page ask for a new JWT.
 */
import { type Accessor, createEffect, createSignal, onCleanup } from "solid-js";
import { createStore } from "solid-js/store";
import {
  HubWorkspaceBuckets,
  type HubWorkspaceView,
  type MembershipView,
} from "../../../shared/hub-workspaces.js";
import type { HostView, WorkspaceView } from "../../../shared/launchpad.js";
import { Buckets } from "../../../shared/subjects.js";
import type { HubConnection } from "../lib/hub-connection.js";
import { watchKvRecords } from "../lib/kv-watch.js";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
const hasWsid = <T>(v: unknown): v is T => isObject(v) && typeof v.wsid === "string";
const hasHostId = (v: unknown): v is HostView => isObject(v) && typeof v.hostId === "string";
const NO_REBUILD = { rebuildCheck: false } as const;

/** The account's workspaces (its own and those shared with it), and its role in each. */
export function watchWorkspaceList(
  conn: HubConnection,
  accountId: string,
): {
  wsids: Accessor<string[]>;
  roleOf: (wsid: string) => MembershipView["role"] | undefined;
  problem: Accessor<string | undefined>;
} {
  const [rows, setRows] = createStore<Record<string, MembershipView>>({});
  const [problem, setProblem] = createSignal<string>();
  const stop = watchKvRecords<MembershipView>(
    conn,
    HubWorkspaceBuckets.memberships,
    `${accountId}.*`,
    {
      set: setRows,
      id: (key) => key.slice(accountId.length + 1),
      valid: (v): v is MembershipView => hasWsid<MembershipView>(v),
      what: "a workspace of the list",
      problem: setProblem,
    },
    NO_REBUILD,
  );
  onCleanup(stop);
  // Made since the page's JWT was: a new one reaches it.
  createEffect(() => {
    if (Object.keys(rows).some((wsid) => !conn.covers(wsid)))
      void conn.refresh().catch((err) => setProblem(String(err)));
  });
  // Ids are `w` + random hex: the order of making is in the hub's records; sort by id here
  // and let the rows show their dates.
  const wsids = () => Object.keys(rows).sort();
  return { wsids, roleOf: (wsid) => rows[wsid]?.role, problem };
}

export interface WorkspaceRow {
  hub: Accessor<HubWorkspaceView | undefined>;
  view: Accessor<WorkspaceView | undefined>;
  host: Accessor<HostView | undefined>;
  problem: Accessor<string | undefined>;
}

/** Watches what one row shows, for as long as the row exists (it is on screen). */
export function watchWorkspaceRow(conn: HubConnection, wsid: string): WorkspaceRow {
  const [hubs, setHubs] = createStore<Record<string, HubWorkspaceView>>({});
  const [views, setViews] = createStore<Record<string, WorkspaceView>>({});
  const [hosts, setHosts] = createStore<Record<string, HostView>>({});
  const [problem, setProblem] = createSignal<string>();
  const one = { id: (key: string) => key, problem: setProblem };
  const stops = [
    watchKvRecords<HubWorkspaceView>(
      conn,
      HubWorkspaceBuckets.workspaces,
      wsid,
      {
        ...one,
        set: setHubs,
        valid: (v): v is HubWorkspaceView => hasWsid(v),
        what: "the workspace's record",
      },
      NO_REBUILD,
    ),
    watchKvRecords<WorkspaceView>(
      conn,
      Buckets.workspaces,
      wsid,
      {
        ...one,
        set: setViews,
        valid: (v): v is WorkspaceView => hasWsid(v),
        what: "the workspace's state",
      },
      NO_REBUILD,
    ),
  ];
  const [watchedHost, setWatchedHost] = createSignal<string>();
  createEffect(() => {
    const hostId = hubs[wsid]?.hostId;
    if (!hostId || hostId === watchedHost()) return;
    setWatchedHost(hostId);
    // Placed since the page's JWT was made: a new one reaches its host's state.
    if (!conn.covers(wsid, hostId)) void conn.refresh().catch((err) => setProblem(String(err)));
    stops.push(
      watchKvRecords<HostView>(
        conn,
        Buckets.hosts,
        hostId,
        { ...one, set: setHosts, valid: hasHostId, what: "the host's state" },
        NO_REBUILD,
      ),
    );
  });
  onCleanup(() => {
    for (const s of stops) s();
  });
  return {
    hub: () => hubs[wsid],
    view: () => views[wsid],
    host: () => {
      const h = watchedHost();
      return h ? hosts[h] : undefined;
    },
    problem,
  };
}
