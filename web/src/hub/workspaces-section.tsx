/**
 * The dashboard's workspaces: a form to make one (title, an image some ready host has, its
 * limits within the account's), the account's own workspaces and those shared with it (with
 * its role), each in a virtual list, each row live from the views (status in words, host and
 * its state, image, limits and use, last activity) with start, stop, snapshots (not for a
 * viewer) and delete (confirmed; an owner's only).
 */
import { createVirtualizer } from "@tanstack/solid-virtual";
import { createMemo, createResource, createSignal, For, Show } from "solid-js";
import type { AccountLimits } from "../../../shared/hub-workspaces.js";
import { messageOf } from "../lib/delay.js";
import type { HubConnection } from "../lib/hub-connection.js";
import { apiFetch, errorMessage, postJson } from "../lib/session.js";
import { watchWorkspaceList, watchWorkspaceRow } from "../stores/hub-workspaces-store.js";
import { Pager } from "./pager.js";
import { formatMb, workspaceStatus } from "./workspace-status.js";

/** A row's height: fixed (its details are one line each), so rows need no measuring. */
const ROW_HEIGHT = 92;

interface Options {
  images: { name: string; hosts: string[] }[];
  limits: AccountLimits;
}

/** Posts a workspace action; the error's words, or undefined. */
export async function act(
  wsid: string,
  action: string,
  body: object = {},
): Promise<string | undefined> {
  const res = await postJson(`/api/hub/workspaces/${wsid}/${action}`, body);
  return res.ok ? undefined : errorMessage(res);
}

export function WorkspacesSection(props: { conn: HubConnection; accountId: string }) {
  const list = watchWorkspaceList(props.conn, props.accountId);
  const [problem, setProblem] = createSignal<string>();
  const [snapshotsOf, setSnapshotsOf] = createSignal<string>();
  const [deleting, setDeleting] = createSignal<{ wsid: string; title: string }>();
  // Its own (it is an owner), and what others share with it.
  const own = createMemo(() => list.wsids().filter((w) => list.roleOf(w) === "owner"));
  const shared = createMemo(() => list.wsids().filter((w) => list.roleOf(w) !== "owner"));
  return (
    <section class="hub-section" data-testid="hub-workspaces">
      <h2>Workspaces</h2>
      <CreateWorkspace onProblem={setProblem} />
      <Show when={problem() ?? list.problem()}>
        {(p) => (
          <p class="hub-problem" role="alert" data-testid="hub-workspaces-problem">
            {p()}
          </p>
        )}
      </Show>
      <Show
        when={own().length > 0}
        fallback={
          <p class="muted" data-testid="hub-no-workspaces">
            You have no workspaces on this hub yet.
          </p>
        }
      >
        <WorkspaceList
          conn={props.conn}
          wsids={own()}
          roleOf={list.roleOf}
          testid="hub-ws-list"
          onProblem={setProblem}
          onSnapshots={setSnapshotsOf}
          onDelete={(wsid, title) => setDeleting({ wsid, title })}
        />
      </Show>
      <Show when={shared().length > 0}>
        <h3 class="hub-shared-heading">Shared with you</h3>
        <WorkspaceList
          conn={props.conn}
          wsids={shared()}
          roleOf={list.roleOf}
          testid="hub-ws-shared-list"
          onProblem={setProblem}
          onSnapshots={setSnapshotsOf}
          onDelete={(wsid, title) => setDeleting({ wsid, title })}
        />
      </Show>
      <Show when={snapshotsOf()}>
        {(wsid) => <Snapshots wsid={wsid()} onClose={() => setSnapshotsOf(undefined)} />}
      </Show>
      <Show when={deleting()}>
        {(d) => (
          <ConfirmDelete
            wsid={d().wsid}
            title={d().title}
            onDone={(err) => {
              setDeleting(undefined);
              setProblem(err);
            }}
          />
        )}
      </Show>
    </section>
  );
}

/** The rows in view only: an account may have many workspaces. */
function WorkspaceList(props: {
  conn: HubConnection;
  wsids: string[];
  roleOf: (wsid: string) => string | undefined;
  testid: string;
  onProblem: (p: string | undefined) => void;
  onSnapshots: (wsid: string) => void;
  onDelete: (wsid: string, title: string) => void;
}) {
  let scroller: HTMLDivElement | undefined;
  const virtualizer = createVirtualizer({
    get count() {
      return props.wsids.length;
    },
    getScrollElement: () => scroller ?? null,
    estimateSize: () => ROW_HEIGHT,
    overscan: 6,
  });
  const items = () => virtualizer.getVirtualItems();
  const rows = createMemo(() =>
    items().flatMap((v) => {
      const wsid = props.wsids[v.index];
      return wsid ? [wsid] : [];
    }),
  );
  return (
    <div
      class="hub-ws-scroll"
      data-testid={props.testid}
      data-count={props.wsids.length}
      ref={(el) => {
        scroller = el;
      }}
    >
      <ul style={{ height: `${virtualizer.getTotalSize()}px` }}>
        <For each={rows()}>
          {(wsid, i) => (
            <li
              style={{
                transform: `translateY(${items()[i()]?.start ?? 0}px)`,
                height: `${ROW_HEIGHT}px`,
              }}
            >
              <Row
                conn={props.conn}
                wsid={wsid}
                role={props.roleOf(wsid)}
                onProblem={props.onProblem}
                onSnapshots={() => props.onSnapshots(wsid)}
                onDelete={(title) => props.onDelete(wsid, title)}
              />
            </li>
          )}
        </For>
      </ul>
    </div>
  );
}

function CreateWorkspace(props: { onProblem: (p: string | undefined) => void }) {
  const [options, { refetch }] = createResource(async (): Promise<Options> => {
    const res = await apiFetch("/api/hub/workspaces/options", { cache: "no-store" });
    if (!res.ok) throw new Error(await errorMessage(res));
    return (await res.json()) as Options;
  });
  const [title, setTitle] = createSignal("");
  const [image, setImage] = createSignal("");
  const [cpus, setCpus] = createSignal(1);
  const [memoryMb, setMemoryMb] = createSignal(2048);
  const [diskMb, setDiskMb] = createSignal(2048);
  const [busy, setBusy] = createSignal(false);
  const chosenImage = () => image() || options()?.images[0]?.name || "";
  const create = async (e: Event) => {
    e.preventDefault();
    props.onProblem(undefined);
    setBusy(true);
    try {
      const res = await postJson("/api/hub/workspaces", {
        title: title().trim() || "Untitled",
        image: chosenImage(),
        quota: { cpus: cpus(), memoryMb: memoryMb(), diskMb: diskMb() },
      });
      if (!res.ok) props.onProblem(await errorMessage(res));
      else setTitle("");
    } catch (err) {
      props.onProblem(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  const number = (set: (n: number) => void) => (e: { currentTarget: HTMLInputElement }) =>
    set(Number(e.currentTarget.value) || 0);
  return (
    <form class="hub-row hub-create" data-testid="hub-create-workspace" onSubmit={create}>
      <label class="hub-inline">
        Title
        <input
          data-testid="hub-ws-title"
          maxLength={200}
          value={title()}
          placeholder="My project"
          onInput={(e) => setTitle(e.currentTarget.value)}
        />
      </label>
      <label class="hub-inline">
        Image
        <select
          data-testid="hub-ws-image"
          value={chosenImage()}
          onChange={(e) => setImage(e.currentTarget.value)}
        >
          <For each={options()?.images ?? []}>
            {(i) => <option value={i.name}>{i.name}</option>}
          </For>
        </select>
      </label>
      <label class="hub-inline">
        CPUs
        <input
          type="number"
          step="0.5"
          min="0.5"
          max={options()?.limits.cpusPerWorkspace ?? 2}
          value={cpus()}
          onInput={number(setCpus)}
        />
      </label>
      <label class="hub-inline">
        Memory MB
        <input
          type="number"
          min="128"
          data-testid="hub-ws-memory"
          max={options()?.limits.memoryMbPerWorkspace ?? 4096}
          value={memoryMb()}
          onInput={number(setMemoryMb)}
        />
      </label>
      <label class="hub-inline">
        Disk MB
        <input
          type="number"
          min="64"
          data-testid="hub-ws-disk"
          max={options()?.limits.diskMb ?? 20480}
          value={diskMb()}
          onInput={number(setDiskMb)}
        />
      </label>
      <button
        type="submit"
        class="button"
        data-testid="hub-ws-create"
        disabled={busy() || chosenImage() === ""}
      >
        Create workspace
      </button>
      <Show when={options() && options()!.images.length === 0}>
        <span class="muted" data-testid="hub-no-images">
          No host offers an image yet. A hub that runs its own host builds one at its first start (a
          few minutes: its console shows the steps); else an admin imports one (cocalc-launchpad
          image import).{" "}
          <button type="button" class="link-button" onClick={() => void refetch()}>
            Look again
          </button>
        </span>
      </Show>
    </form>
  );
}

function Row(props: {
  conn: HubConnection;
  wsid: string;
  /** The account's role in it. */
  role?: string;
  onProblem: (p: string | undefined) => void;
  onSnapshots: () => void;
  onDelete: (title: string) => void;
}) {
  const row = watchWorkspaceRow(props.conn, props.wsid);
  const status = () => workspaceStatus(row.hub(), row.view(), row.host());
  const acts = () => props.role !== "viewer";
  const [busy, setBusy] = createSignal(false);
  const run = async (action: string) => {
    props.onProblem(undefined);
    setBusy(true);
    try {
      props.onProblem(await act(props.wsid, action));
    } catch (err) {
      props.onProblem(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  const quota = () => row.hub()?.quota ?? {};
  const usage = () => row.view()?.usage;
  return (
    <div
      class="hub-ws"
      data-testid="hub-ws"
      data-wsid={props.wsid}
      data-status={status().label}
      data-role={props.role}
    >
      <div class="hub-ws-main">
        <span class="hub-ws-title" title={row.hub()?.title}>
          {row.hub()?.title ?? props.wsid}
        </span>
        <Show when={props.role !== undefined && props.role !== "owner"}>
          <span class="hub-badge" data-testid="hub-ws-my-role">
            {props.role === "viewer" ? "viewer · read-only" : props.role}
          </span>
        </Show>
        <span class={`hub-ws-status tone-${status().tone}`} data-testid="hub-ws-status">
          {status().label}
        </span>
        <span class="hub-ws-actions">
          <a
            class="button primary"
            href={`/ws/${props.wsid}/`}
            data-testid="hub-ws-open"
            title="Open the workspace: files, editor, terminals, agents"
          >
            Open
          </a>
          <Show when={acts() && status().canStart}>
            <button
              type="button"
              class="button"
              data-testid="hub-ws-start"
              disabled={busy()}
              onClick={() => void run("start")}
            >
              Start
            </button>
          </Show>
          <Show when={acts() && status().canStop}>
            <button
              type="button"
              class="button"
              data-testid="hub-ws-stop"
              disabled={busy()}
              onClick={() => void run("stop")}
            >
              Stop
            </button>
          </Show>
          <Show when={acts() && row.hub()?.placement === "placed"}>
            <button
              type="button"
              class="button"
              data-testid="hub-ws-snapshots"
              onClick={props.onSnapshots}
            >
              Snapshots
            </button>
          </Show>
          <Show when={props.role === "owner"}>
            <button
              type="button"
              class="button"
              data-testid="hub-ws-delete"
              disabled={busy()}
              onClick={() => props.onDelete(row.hub()?.title ?? props.wsid)}
            >
              Delete
            </button>
          </Show>
        </span>
      </div>
      <div class="hub-ws-detail muted" data-testid="hub-ws-detail" title={status().detail}>
        {status().detail ?? ""}
        <Show when={row.problem()}>{(p) => <span class="hub-problem"> {p()}</span>}</Show>
      </div>
      <div class="hub-ws-facts muted">
        <span data-testid="hub-ws-host">
          host {row.hub()?.hostId ?? "none yet"}
          <Show when={row.host()}>{(h) => <> ({h().status})</>}</Show>
        </span>
        <span>image {row.hub()?.image}</span>
        <span>
          {quota().cpus ?? 1} cpu · {formatMb(quota().memoryMb ?? 2048)} memory · disk{" "}
          {usage()?.usedMb !== undefined ? `${formatMb(usage()!.usedMb)} of ` : ""}
          {formatMb(quota().diskMb ?? 2048)}
        </span>
        <Show when={row.view()?.updatedAt}>
          {(at) => <span>last activity {new Date(at()).toLocaleString()}</span>}
        </Show>
      </div>
    </div>
  );
}

const SNAPSHOTS_PAGE = 20;

function Snapshots(props: { wsid: string; onClose: () => void }) {
  const [list, { refetch }] = createResource(
    () => props.wsid,
    async (wsid) => {
      const res = await postJson(`/api/hub/workspaces/${wsid}/snapshots`, {});
      if (!res.ok) throw new Error(await errorMessage(res));
      const { snapshots } = (await res.json()) as {
        snapshots: { name: string; takenAt: string }[];
      };
      // Newest first: the one just made is on the first page.
      return [...snapshots].sort((a, b) => b.takenAt.localeCompare(a.takenAt));
    },
  );
  const [from, setFrom] = createSignal(0);
  const [name, setName] = createSignal("");
  const [problem, setProblem] = createSignal<string>();
  const [busy, setBusy] = createSignal(false);
  const run = async (action: string, body: object) => {
    setProblem(undefined);
    setBusy(true);
    try {
      const err = await act(props.wsid, action, body);
      setProblem(err);
      if (!err) await refetch();
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="hub-panel" data-testid="hub-snapshots" role="dialog" aria-label="Snapshots">
      <div class="hub-row">
        <strong>Snapshots</strong>
        <input
          data-testid="hub-snapshot-name"
          placeholder="name, e.g. before-upgrade"
          value={name()}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <button
          type="button"
          class="button"
          data-testid="hub-snapshot-create"
          disabled={busy() || name().trim() === ""}
          onClick={() => void run("snapshot", { name: name().trim() })}
        >
          Take snapshot
        </button>
        <button type="button" class="button" onClick={props.onClose}>
          Close
        </button>
      </div>
      <Show when={problem() ?? (list.error ? messageOf(list.error) : undefined)}>
        {(p) => (
          <p class="hub-problem" role="alert">
            {p()}
          </p>
        )}
      </Show>
      <ul class="hub-snapshot-list" data-testid="hub-snapshot-list">
        <For
          each={(list() ?? []).slice(from(), from() + SNAPSHOTS_PAGE)}
          fallback={<li class="muted">No snapshots yet.</li>}
        >
          {(s) => (
            <li data-testid="hub-snapshot" data-name={s.name}>
              <span>{s.name}</span>
              <span class="muted">{new Date(s.takenAt).toLocaleString()}</span>
              <button
                type="button"
                class="button"
                disabled={busy()}
                title="Restores the home folder as it was (the workspace must be stopped)"
                onClick={() => void run("restore", { name: s.name })}
              >
                Restore
              </button>
            </li>
          )}
        </For>
      </ul>
      <Show when={(list()?.length ?? 0) > SNAPSHOTS_PAGE}>
        <div class="hub-row">
          <Pager
            total={list()?.length ?? 0}
            offset={from()}
            page={SNAPSHOTS_PAGE}
            one="snapshot"
            many="snapshots"
            onOffset={setFrom}
          />
        </div>
      </Show>
    </div>
  );
}

function ConfirmDelete(props: {
  wsid: string;
  title: string;
  onDone: (problem: string | undefined) => void;
}) {
  const [busy, setBusy] = createSignal(false);
  const remove = async () => {
    setBusy(true);
    try {
      props.onDone(await act(props.wsid, "delete"));
    } catch (err) {
      props.onDone(messageOf(err));
    }
  };
  return (
    <div class="hub-panel" role="alertdialog" data-testid="hub-confirm-delete">
      <p>
        Delete <strong>{props.title}</strong>? Its files and snapshots are removed for good.
      </p>
      <div class="hub-row">
        <button
          type="button"
          class="button danger"
          data-testid="hub-confirm-delete-yes"
          disabled={busy()}
          onClick={() => void remove()}
        >
          Delete it
        </button>
        <button
          type="button"
          class="button"
          disabled={busy()}
          onClick={() => props.onDone(undefined)}
        >
          Keep it
        </button>
      </div>
    </div>
  );
}
