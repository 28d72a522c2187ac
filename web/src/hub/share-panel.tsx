/**
 * A hub workspace's Share panel: its members with their roles and, for an owner, a role
 * select and Remove for each, adding an existing account by email, and one-time invite links
 * (made, copied, revoked), and public links of the workspace's apps (a port anyone with the
 * link opens, revoked here). Others see who is in and that only an owner changes it.
 */
import { createSignal, For, Show } from "solid-js";
import { WorkspaceRoles } from "../../../shared/hub-permissions.js";
import type { ShareStore } from "../stores/hub-share-store.js";

const ROLES = Object.values(WorkspaceRoles);
const ROLE_WORDS: Record<WorkspaceRoles, string> = {
  owner: "owner (also shares and deletes)",
  collaborator: "collaborator (works in it)",
  viewer: "viewer (read-only)",
};

export function SharePanel(props: {
  share: ShareStore;
  /** The signed-in account. */
  me?: string;
  owner: boolean;
  onClose: () => void;
}) {
  const [problem, setProblem] = createSignal<string>();
  const [busy, setBusy] = createSignal(false);
  const [email, setEmail] = createSignal("");
  const [role, setRole] = createSignal<WorkspaceRoles>("collaborator");
  const [inviteRole, setInviteRole] = createSignal<WorkspaceRoles>("viewer");
  const [link, setLink] = createSignal<string>();
  const [copied, setCopied] = createSignal(false);
  const [port, setPort] = createSignal("");
  const [portLink, setPortLink] = createSignal<string>();
  const sharePort = (e: Event) => {
    e.preventDefault();
    const n = Number(port());
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      setProblem("a port is a whole number from 1 to 65535");
      return;
    }
    void run(async () => {
      const r = await props.share.sharePort(n);
      if ("problem" in r) return r.problem;
      setPortLink(r.link);
      setPort("");
      return undefined;
    });
  };
  const run = async (action: () => Promise<string | undefined>) => {
    setBusy(true);
    setProblem(undefined);
    try {
      const p = await action();
      setProblem(p);
      return p === undefined;
    } finally {
      setBusy(false);
    }
  };
  const add = async (e: Event) => {
    e.preventDefault();
    if (await run(() => props.share.add(email().trim(), role()))) setEmail("");
  };
  const invite = () =>
    run(async () => {
      setCopied(false);
      const r = await props.share.createInvite(inviteRole());
      if ("problem" in r) return r.problem;
      setLink(r.link);
      return undefined;
    });
  const copy = async (l = link()) => {
    if (!l) return;
    await navigator.clipboard.writeText(l).then(
      () => setCopied(true),
      () => setProblem("the browser did not let the page copy: select the link and copy it"),
    );
  };
  return (
    <div class="hub-panel hub-share" role="dialog" aria-label="Share" data-testid="hub-share">
      <div class="hub-row">
        <strong>Who is in this workspace</strong>
        <button type="button" class="button" data-testid="hub-share-close" onClick={props.onClose}>
          Close
        </button>
      </div>
      <ul class="hub-share-list" data-testid="hub-share-members">
        <For each={props.share.members()}>
          {(m) => (
            <li data-testid="hub-share-member" data-account={m.account} data-role={m.role}>
              <span class="hub-share-name">
                {m.name}
                <Show when={m.account === props.me}>
                  <span class="muted"> (you)</span>
                </Show>
              </span>
              <span class="muted hub-share-email">{m.email ?? ""}</span>
              <Show when={props.owner} fallback={<span class="hub-badge">{m.role}</span>}>
                <select
                  data-testid="hub-share-role"
                  value={m.role}
                  disabled={busy()}
                  onChange={(e) =>
                    void run(() =>
                      props.share.setRole(m.account, e.currentTarget.value as WorkspaceRoles),
                    )
                  }
                >
                  <For each={ROLES}>{(r) => <option value={r}>{ROLE_WORDS[r]}</option>}</For>
                </select>
                <button
                  type="button"
                  class="button danger"
                  data-testid="hub-share-remove"
                  disabled={busy()}
                  onClick={() => void run(() => props.share.remove(m.account))}
                >
                  Remove
                </button>
              </Show>
            </li>
          )}
        </For>
      </ul>
      <Show
        when={props.owner}
        fallback={
          <p class="muted" data-testid="hub-share-not-owner">
            Only an owner changes who is in this workspace.
          </p>
        }
      >
        <form class="hub-row" data-testid="hub-share-add" onSubmit={add}>
          <label class="hub-inline">
            Add by email
            <input
              type="email"
              data-testid="hub-share-email"
              placeholder="someone@example.com"
              value={email()}
              onInput={(e) => setEmail(e.currentTarget.value)}
            />
          </label>
          <select
            data-testid="hub-share-add-role"
            value={role()}
            onChange={(e) => setRole(e.currentTarget.value as WorkspaceRoles)}
          >
            <For each={ROLES}>{(r) => <option value={r}>{ROLE_WORDS[r]}</option>}</For>
          </select>
          <button
            type="submit"
            class="button primary"
            data-testid="hub-share-add-submit"
            disabled={busy() || email().trim() === ""}
          >
            Add
          </button>
        </form>
        <div class="hub-row">
          <span>Invite link for one person, valid 7 days, as</span>
          <select
            data-testid="hub-share-invite-role"
            value={inviteRole()}
            onChange={(e) => setInviteRole(e.currentTarget.value as WorkspaceRoles)}
          >
            <For each={ROLES}>{(r) => <option value={r}>{ROLE_WORDS[r]}</option>}</For>
          </select>
          <button
            type="button"
            class="button"
            data-testid="hub-share-invite"
            disabled={busy()}
            onClick={() => void invite()}
          >
            Create invite link
          </button>
        </div>
        <Show when={link()}>
          {(l) => (
            <div class="hub-row hub-share-link">
              <code data-testid="hub-share-link">{l()}</code>
              <button
                type="button"
                class="button"
                data-testid="hub-share-copy"
                onClick={() => void copy()}
              >
                {copied() ? "Copied" : "Copy"}
              </button>
              <span class="muted">shown once; it works once</span>
            </div>
          )}
        </Show>
        <Show when={props.share.invites().length > 0}>
          <ul class="hub-share-list" data-testid="hub-share-invites">
            <For each={props.share.invites()}>
              {(i) => (
                <li data-testid="hub-share-open-invite" data-invite={i.inviteId}>
                  <span>
                    open link as <strong>{i.role}</strong>
                  </span>
                  <span class="muted">until {new Date(i.expires).toLocaleString()}</span>
                  <button
                    type="button"
                    class="button"
                    data-testid="hub-share-revoke"
                    disabled={busy()}
                    onClick={() => void run(() => props.share.revokeInvite(i.inviteId))}
                  >
                    Revoke
                  </button>
                </li>
              )}
            </For>
          </ul>
        </Show>
        <div class="hub-share-public" data-testid="hub-share-public">
          <strong>Public links to the workspace's apps</strong>
          <p class="muted">
            Anyone with such a link opens the app on that port without signing in, until you revoke
            it. Share only what you would put on the web.
          </p>
          <form class="hub-row" data-testid="hub-share-port-form" onSubmit={sharePort}>
            <label class="hub-inline">
              Port
              <input
                type="number"
                min="1"
                max="65535"
                data-testid="hub-share-port"
                placeholder="8080"
                value={port()}
                onInput={(e) => setPort(e.currentTarget.value)}
              />
            </label>
            <button
              type="submit"
              class="button"
              data-testid="hub-share-port-submit"
              disabled={busy() || port().trim() === ""}
            >
              Make public link
            </button>
          </form>
          <Show when={portLink()}>
            {(l) => (
              <div class="hub-row hub-share-link">
                <code data-testid="hub-share-port-link">{l()}</code>
                <button
                  type="button"
                  class="button"
                  data-testid="hub-share-port-copy"
                  onClick={() => void copy(l())}
                >
                  Copy
                </button>
                <span class="muted">shown once; a new link for the port replaces it</span>
              </div>
            )}
          </Show>
          <Show when={props.share.publicPorts().length > 0}>
            <ul class="hub-share-list" data-testid="hub-share-public-ports">
              <For each={props.share.publicPorts()}>
                {(p) => (
                  <li data-testid="hub-share-public-port" data-port={p}>
                    <span>
                      port <strong>{p}</strong> is public
                    </span>
                    <button
                      type="button"
                      class="button danger"
                      data-testid="hub-share-port-revoke"
                      disabled={busy()}
                      onClick={() => void run(() => props.share.unsharePort(p))}
                    >
                      Revoke
                    </button>
                  </li>
                )}
              </For>
            </ul>
          </Show>
        </div>
      </Show>
      <Show when={problem()}>
        {(p) => (
          <p class="hub-problem" role="alert" data-testid="hub-share-problem">
            {p()}
          </p>
        )}
      </Show>
    </div>
  );
}
