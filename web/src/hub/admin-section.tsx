/**
 * The admin's pages on the dashboard: accounts (searched by email, a page at a time; disable,
 * enable, make admin or user), hosts (state, capacity, what runs there; drain and undrain;
 * their images and imports, host-images.tsx) and their registration tokens (issue one, shown
 * once to save as the host's token file; list; revoke).
 */
import { createResource, createSignal, For, Show } from "solid-js";
import { type AccountView, DEFAULT_ACCOUNT_LIMITS, RESET_PATH } from "../../../shared/hub.js";
import type { HostTokenFile, HostTokenInfo, HostView } from "../../../shared/launchpad.js";
import { messageOf } from "../lib/delay.js";
import { apiFetch, errorMessage, postJson } from "../lib/session.js";
import { HostImages } from "./host-images.js";
import { Pager } from "./pager.js";
import { formatMb } from "./workspace-status.js";

const PAGE = 20;

export async function getJson<T>(path: string): Promise<T> {
  const res = await apiFetch(path, { cache: "no-store" });
  if (!res.ok) throw new Error(await errorMessage(res));
  return (await res.json()) as T;
}

export function Problem(props: { text: string | undefined }) {
  return (
    <Show when={props.text}>
      <p class="hub-problem" role="alert">
        {props.text}
      </p>
    </Show>
  );
}

export function AdminAccounts() {
  const [q, setQ] = createSignal("");
  const [offset, setOffset] = createSignal(0);
  const [problem, setProblem] = createSignal<string>();
  const [editing, setEditing] = createSignal<string>();
  const [page, { mutate, refetch }] = createResource(
    () => ({ q: q(), offset: offset() }),
    (k) =>
      getJson<{ total: number; accounts: (AccountView & { email?: string })[] }>(
        `/api/hub/admin/accounts?q=${encodeURIComponent(k.q)}&offset=${k.offset}&limit=${PAGE}`,
      ),
  );
  const act = async (id: string, action: string) => {
    setProblem(undefined);
    const res = await postJson(`/api/hub/admin/accounts/${id}/${action}`, {});
    if (!res.ok) {
      setProblem(await errorMessage(res));
      return refetch();
    }
    answered(((await res.json()) as { account: AccountView }).account);
  };
  // An action's answer is the account as its events now have it; the page was read from the
  // view, which may not have caught up yet, so the row takes the answer instead of a reload.
  const answered = (account: AccountView) =>
    mutate(
      (p) =>
        p && {
          ...p,
          accounts: p.accounts.map((a) => (a.id === account.id ? { ...a, ...account } : a)),
        },
    );
  const [resetLink, setResetLink] = createSignal<{ email: string; url: string; expires: string }>();
  const makeResetLink = async (a: AccountView & { email?: string }) => {
    setProblem(undefined);
    setResetLink(undefined);
    const res = await postJson(`/api/hub/admin/accounts/${a.id}/reset-link`, {
      ttlSeconds: 86_400,
    });
    if (!res.ok) return setProblem(await errorMessage(res));
    const { reset } = (await res.json()) as { reset: { token: string; expires: string } };
    setResetLink({
      email: a.email ?? a.id,
      url: `${location.origin}${RESET_PATH}#${reset.token}`,
      expires: reset.expires,
    });
  };
  return (
    <section class="hub-section" data-testid="hub-admin-accounts">
      <h2>Accounts</h2>
      <div class="hub-row">
        <input
          data-testid="hub-admin-search"
          placeholder="search by email"
          value={q()}
          onInput={(e) => {
            setQ(e.currentTarget.value);
            setOffset(0);
          }}
        />
        <span class="muted">{page()?.total ?? 0} found</span>
        <button
          type="button"
          class="button"
          disabled={offset() === 0}
          onClick={() => setOffset(Math.max(0, offset() - PAGE))}
        >
          Newer
        </button>
        <button
          type="button"
          class="button"
          disabled={(page()?.total ?? 0) <= offset() + PAGE}
          onClick={() => setOffset(offset() + PAGE)}
        >
          Older
        </button>
      </div>
      <Problem text={problem() ?? (page.error ? messageOf(page.error) : undefined)} />
      <Show when={resetLink()}>
        {(r) => (
          <p class="hub-link">
            Send this link to {r().email}; it sets a new password once, until{" "}
            {new Date(r().expires).toLocaleString()}, and is shown only now:{" "}
            <code data-testid="hub-reset-link">{r().url}</code>
          </p>
        )}
      </Show>
      <table class="hub-table">
        <thead>
          <tr>
            <th>Email</th>
            <th>Role</th>
            <th>Status</th>
            <th>Made</th>
            <th />
          </tr>
        </thead>
        <tbody>
          <For each={page()?.accounts ?? []}>
            {(a) => (
              <tr data-testid="hub-admin-account" data-email={a.email}>
                <td>{a.email ?? a.id}</td>
                <td>{a.role}</td>
                <td>{a.status}</td>
                <td>
                  {new Date(a.created).toLocaleDateString()} ({a.via})
                </td>
                <td class="hub-actions">
                  <button
                    type="button"
                    class="button"
                    onClick={() => void act(a.id, a.status === "active" ? "disable" : "enable")}
                  >
                    {a.status === "active" ? "Disable" : "Enable"}
                  </button>
                  <button
                    type="button"
                    class="button"
                    onClick={() => void act(a.id, a.role === "admin" ? "user" : "admin")}
                  >
                    {a.role === "admin" ? "Make user" : "Make admin"}
                  </button>
                  <button
                    type="button"
                    class="button"
                    data-testid="hub-admin-limits"
                    onClick={() => setEditing(editing() === a.id ? undefined : a.id)}
                  >
                    Limits
                  </button>
                  <button
                    type="button"
                    class="button"
                    data-testid="hub-admin-reset-link"
                    onClick={() => void makeResetLink(a)}
                  >
                    Reset link
                  </button>
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
      <Show when={page()?.accounts.find((a) => a.id === editing())}>
        {(a) => (
          <LimitsForm
            account={a()}
            onDone={(problem, account) => {
              setProblem(problem);
              if (!account) return void refetch();
              setEditing(undefined);
              answered(account);
            }}
          />
        )}
      </Show>
    </section>
  );
}

/** An account's limits, and the cores its running workspaces may hold together. */
function LimitsForm(props: {
  account: AccountView & { email?: string };
  onDone: (problem: string | undefined, account?: AccountView) => void;
}) {
  const l = props.account.limits ?? DEFAULT_ACCOUNT_LIMITS;
  const [workspaces, setWorkspaces] = createSignal(l.workspaces);
  const [diskMb, setDiskMb] = createSignal(l.diskMb);
  const [cpus, setCpus] = createSignal(l.cpusPerWorkspace);
  const [memoryMb, setMemoryMb] = createSignal(l.memoryMbPerWorkspace);
  const [cores, setCores] = createSignal("");
  const save = async (e: Event) => {
    e.preventDefault();
    const res = await postJson(`/api/hub/admin/accounts/${props.account.id}/limits`, {
      limits: {
        workspaces: workspaces(),
        diskMb: diskMb(),
        cpusPerWorkspace: cpus(),
        memoryMbPerWorkspace: memoryMb(),
      },
      cores: cores().trim() === "" ? null : Number(cores()),
    });
    if (!res.ok) return props.onDone(await errorMessage(res));
    props.onDone(undefined, ((await res.json()) as { account: AccountView }).account);
  };
  const num = (set: (n: number) => void) => (e: { currentTarget: HTMLInputElement }) =>
    set(Number(e.currentTarget.value) || 0);
  return (
    <form class="hub-panel hub-row" data-testid="hub-limits-form" onSubmit={save}>
      <strong>{props.account.email ?? props.account.id}</strong>
      <label class="hub-inline">
        Workspaces
        <input type="number" min="0" value={workspaces()} onInput={num(setWorkspaces)} />
      </label>
      <label class="hub-inline">
        Disk MB together
        <input type="number" min="0" value={diskMb()} onInput={num(setDiskMb)} />
      </label>
      <label class="hub-inline">
        CPUs each
        <input type="number" step="0.5" min="0.5" value={cpus()} onInput={num(setCpus)} />
      </label>
      <label class="hub-inline">
        Memory MB each
        <input type="number" min="16" value={memoryMb()} onInput={num(setMemoryMb)} />
      </label>
      <label class="hub-inline">
        Cores running together
        <input
          type="number"
          min="0"
          placeholder="no limit"
          value={cores()}
          onInput={(e) => setCores(e.currentTarget.value)}
        />
      </label>
      <button type="submit" class="button" data-testid="hub-limits-save">
        Save limits
      </button>
    </form>
  );
}

export function AdminHosts() {
  const [hosts, { mutate, refetch }] = createResource(() =>
    getJson<{ hosts: HostView[] }>("/api/hub/admin/hosts").then((r) => r.hosts),
  );
  const [tokens, tokensActions] = createResource(() =>
    getJson<{ tokens: HostTokenInfo[] }>("/api/hub/admin/tokens").then((r) => r.tokens),
  );
  const [hostId, setHostId] = createSignal("");
  const [issued, setIssued] = createSignal<HostTokenFile>();
  const [problem, setProblem] = createSignal<string>();
  const [imagesOf, setImagesOf] = createSignal<string>();
  const [hostsFrom, setHostsFrom] = createSignal(0);
  const [tokensFrom, setTokensFrom] = createSignal(0);
  const newestTokens = () => [...(tokens() ?? [])].reverse();
  const drain = async (id: string, action: "drain" | "undrain") => {
    setProblem(undefined);
    const res = await postJson(`/api/hub/admin/hosts/${id}/${action}`, {});
    if (!res.ok) {
      setProblem(await errorMessage(res));
      return refetch();
    }
    // As for accounts: the answer is newer than the hosts view may be.
    const { drainedAt } = (await res.json()) as { drainedAt: string | null };
    mutate((list) =>
      list?.map((h) => {
        if (h.hostId !== id) return h;
        const { drainedAt: _was, ...rest } = h;
        return drainedAt === null ? rest : { ...rest, drainedAt };
      }),
    );
  };
  const issue = async () => {
    setProblem(undefined);
    const res = await postJson("/api/hub/admin/tokens", {
      hostId: hostId().trim(),
      ttlSeconds: 3600,
    });
    if (!res.ok) return setProblem(await errorMessage(res));
    setIssued(((await res.json()) as { token: HostTokenFile }).token);
    setTokensFrom(0);
    await tokensActions.refetch();
  };
  const revoke = async (id: string) => {
    setProblem(undefined);
    const res = await postJson(`/api/hub/admin/tokens/${id}/revoke`, {});
    if (!res.ok) setProblem(await errorMessage(res));
    await tokensActions.refetch();
  };
  return (
    <section class="hub-section" data-testid="hub-admin-hosts">
      <h2>Hosts</h2>
      <Problem text={problem() ?? (hosts.error ? messageOf(hosts.error) : undefined)} />
      <table class="hub-table">
        <thead>
          <tr>
            <th>Host</th>
            <th>State</th>
            <th>Workspaces (running)</th>
            <th>Capacity used</th>
            <th>Disk</th>
            <th>Images</th>
            <th>Last heard</th>
            <th />
          </tr>
        </thead>
        <tbody>
          <For each={(hosts() ?? []).slice(hostsFrom(), hostsFrom() + PAGE)}>
            {(h) => (
              <tr
                data-testid="hub-admin-host"
                data-host={h.hostId}
                data-state={h.status}
                data-draining={String(h.drainedAt !== undefined)}
              >
                <td>{h.hostId}</td>
                <td>
                  {h.status}
                  <Show when={h.drainedAt}>
                    {(since) => (
                      <>
                        ,{" "}
                        <span
                          class="hub-draining"
                          title={`since ${new Date(since()).toLocaleString()}`}
                        >
                          draining
                        </span>
                      </>
                    )}
                  </Show>
                </td>
                <td data-testid="hub-admin-host-workspaces">
                  {h.workspaces} ({h.running})
                  <Show when={h.drainedAt}>
                    {" "}
                    <span class="muted">
                      {h.workspaces === 0 ? "none left" : "still on it; they run until stopped"}
                    </span>
                  </Show>
                </td>
                <td>
                  {h.committed?.cpus ?? 0}/{h.capacity?.cpus ?? "?"} cpu,{" "}
                  {formatMb(h.committed?.memoryMb ?? 0)}/{formatMb(h.capacity?.memoryMb)}
                </td>
                <td>
                  {formatMb(h.disk.usedMb)}/{formatMb(h.disk.totalMb)}
                </td>
                <td>{(h.images ?? []).join(", ") || "none"}</td>
                <td>{h.seenAt ? new Date(h.seenAt).toLocaleString() : "never"}</td>
                <td class="hub-actions">
                  <button
                    type="button"
                    class="button"
                    data-testid="hub-admin-drain"
                    title={
                      h.drainedAt
                        ? "take new workspaces again"
                        : "take no new workspaces; those on it keep running until stopped"
                    }
                    onClick={() => void drain(h.hostId, h.drainedAt ? "undrain" : "drain")}
                  >
                    {h.drainedAt ? "Undrain" : "Drain"}
                  </button>
                  <button
                    type="button"
                    class="button"
                    data-testid="hub-admin-images"
                    onClick={() => setImagesOf(imagesOf() === h.hostId ? undefined : h.hostId)}
                  >
                    Images
                  </button>
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
      <Show when={imagesOf()}>
        {(id) => <HostImages hostId={id()} onImported={() => void refetch()} />}
      </Show>
      <div class="hub-row">
        <button type="button" class="button" onClick={() => void refetch()}>
          Refresh
        </button>
        <Pager
          total={hosts()?.length ?? 0}
          offset={hostsFrom()}
          page={PAGE}
          one="host"
          many="hosts"
          onOffset={setHostsFrom}
        />
        <input
          data-testid="hub-admin-token-host"
          placeholder="host id, e.g. gpu-1"
          value={hostId()}
          onInput={(e) => setHostId(e.currentTarget.value)}
        />
        <button
          type="button"
          class="button"
          data-testid="hub-admin-token-issue"
          disabled={hostId().trim() === ""}
          onClick={() => void issue()}
        >
          Issue a registration token (1 hour)
        </button>
      </div>
      <Show when={issued()}>
        {(t) => (
          <div class="hub-panel" data-testid="hub-admin-token">
            <p>
              Save this as a file only root can read on host <strong>{t().hostId}</strong> (e.g.{" "}
              <code>install -m 600 /dev/stdin {t().hostId}.token</code>, then paste), and run{" "}
              <code>cocalc-launchpad host --join {t().hostId}.token --btrfs …</code>. It is shown
              once.
            </p>
            <textarea readOnly rows={6} class="hub-token" value={JSON.stringify(t(), null, 2)} />
            <button type="button" class="button" onClick={() => setIssued(undefined)}>
              Done
            </button>
          </div>
        )}
      </Show>
      <table class="hub-table">
        <thead>
          <tr>
            <th>Token</th>
            <th>Host</th>
            <th>Status</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          <For each={newestTokens().slice(tokensFrom(), tokensFrom() + PAGE)}>
            {(t) => (
              <tr data-testid="hub-admin-token-row" data-token={t.tokenId} data-status={t.status}>
                <td>
                  <code>{t.tokenId}</code>
                </td>
                <td>{t.hostId}</td>
                <td>{t.status}</td>
                <td>{new Date(t.expiresAt).toLocaleString()}</td>
                <td>
                  <Show when={t.status === "issued" || t.status === "joined"}>
                    <button type="button" class="button" onClick={() => void revoke(t.tokenId)}>
                      Revoke
                    </button>
                  </Show>
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
      <div class="hub-row" data-testid="hub-admin-tokens-pager">
        <Pager
          total={tokens()?.length ?? 0}
          offset={tokensFrom()}
          page={PAGE}
          one="registration token"
          many="registration tokens"
          onOffset={setTokensFrom}
        />
      </div>
    </section>
  );
}

interface ActivityItem {
  stream: string;
  seq: number;
  subject: string;
  type: string;
  actor: string;
  at: string;
  data: unknown;
}

/** What happened on the hub, newest first, a page at a time: every event and who caused it. */
export function AdminActivity() {
  const [items, setItems] = createSignal<ActivityItem[]>([]);
  const [before, setBefore] = createSignal<string>();
  const [done, setDone] = createSignal(false);
  const [problem, setProblem] = createSignal<string>();
  const more = async (from?: string) => {
    setProblem(undefined);
    try {
      const page = await getJson<{ items: ActivityItem[]; before?: string }>(
        `/api/hub/admin/activity?limit=30${from ? `&before=${from}` : ""}`,
      );
      setItems(from ? [...items(), ...page.items] : page.items);
      setBefore(page.before);
      setDone(page.before === undefined);
    } catch (err) {
      setProblem(messageOf(err));
    }
  };
  void more();
  return (
    <section class="hub-section" data-testid="hub-admin-activity">
      <h2>Activity</h2>
      <div class="hub-row">
        <button type="button" class="button" onClick={() => void more()}>
          Newest
        </button>
      </div>
      <Problem text={problem()} />
      <table class="hub-table">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
            <th>On</th>
          </tr>
        </thead>
        <tbody>
          <For each={items()}>
            {(i) => (
              <tr data-testid="hub-activity" data-type={i.type} data-actor={i.actor}>
                <td>{new Date(i.at).toLocaleString()}</td>
                <td>{i.actor}</td>
                <td>{i.type}</td>
                <td>
                  <code>{i.subject}</code>
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
      <Show when={!done()}>
        <button type="button" class="button" onClick={() => void more(before())}>
          Older
        </button>
      </Show>
    </section>
  );
}
