/** The "Remote sessions" tab: the live table of `cocalc-plus ssh` targets and a field to add one. */
import { createMemo, createSignal, For, onCleanup, Show } from "solid-js";
import type { CommandReply } from "../../../shared/commands.js";
import {
  parseTarget,
  type RemoteSessionView,
  type SessionOptions,
} from "../../../shared/remote.js";
import { PortForwards } from "../forwards/port-forwards.js";
import { messageOf } from "../lib/delay.js";
import { signedLink } from "../lib/session.js";
import { useConnection } from "../stores/connection-store.js";
import { SyncPairs } from "../sync/sync-pairs.js";
import {
  createRemoteStore,
  openUrl,
  type RemoteStore,
  type SortKey,
  visibleSessions,
} from "./remote-store.js";
import "./remote.css";

const PAGE = 50;

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function RemoteSessionsPane() {
  const store = createRemoteStore(useConnection());
  const [filter, setFilter] = createSignal("");
  const [sort, setSort] = createSignal<SortKey>("starred");
  const [shown, setShown] = createSignal(PAGE);
  const [error, setError] = createSignal<string>();
  // "… ago" is read from this clock, ticking every 30 s, so the column stays true.
  const [now, setNow] = createSignal(Date.now());
  const tick = setInterval(() => setNow(Date.now()), 30_000);
  onCleanup(() => clearInterval(tick));
  const rows = createMemo(() => visibleSessions(Object.values(store.sessions), filter(), sort()));

  const report = (r: CommandReply) => setError(r.ok ? undefined : r.error.message);

  return (
    <div class="remote-page" data-testid="remote-sessions">
      <header class="remote-head">
        <h2>Remote sessions</h2>
        <AddTarget store={store} onReply={report} />
      </header>
      <Show when={store.problem()}>
        <p class="banner banner-warn" role="status">
          Sessions are not updating: {store.problem()} (retrying)
        </p>
      </Show>
      <Show when={error()}>
        <p class="banner banner-warn" role="alert" data-testid="remote-error">
          {error()}
        </p>
      </Show>
      <div class="remote-tools">
        <input
          class="remote-filter"
          type="search"
          placeholder="Filter by target"
          aria-label="Filter by target"
          value={filter()}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
        <label class="remote-sort">
          Sort by{" "}
          <select value={sort()} onChange={(e) => setSort(e.currentTarget.value as SortKey)}>
            <option value="starred">starred</option>
            <option value="target">target</option>
            <option value="status">status</option>
            <option value="lastUsed">last used</option>
          </select>
        </label>
      </div>
      <Show
        when={rows().length > 0}
        fallback={
          <p class="remote-empty">
            {store.loaded() || Object.keys(store.sessions).length > 0
              ? filter()
                ? "No session matches the filter."
                : "No remote sessions yet. Add a target above."
              : "loading…"}
          </p>
        }
      >
        <table class="remote-table">
          <thead>
            <tr>
              <th aria-label="starred" />
              <th>Target</th>
              <th>Status</th>
              <th>Local port</th>
              <th>Remote version</th>
              <th>Last used</th>
              <th aria-label="actions" />
            </tr>
          </thead>
          <tbody>
            <For each={rows().slice(0, shown())}>
              {(s) => <SessionRow s={s} store={store} onReply={report} now={now} />}
            </For>
          </tbody>
        </table>
        <Show when={rows().length > shown()}>
          <button type="button" class="button" onClick={() => setShown(shown() + PAGE)}>
            Show {Math.min(PAGE, rows().length - shown())} more of {rows().length - shown()}
          </button>
        </Show>
      </Show>
    </div>
  );
}

/** The options of a connect as typed (the CLI's --identity, --proxy-jump, ports, --ssh-arg). */
function typedOptions(o: {
  identity: string;
  proxyJump: string;
  localPort: string;
  remotePort: string;
  sshArgs: string;
}): SessionOptions | string {
  const out: SessionOptions = {};
  if (o.identity.trim() !== "") out.identity = o.identity.trim();
  if (o.proxyJump.trim() !== "") out.proxyJump = o.proxyJump.trim();
  for (const [name, value] of [
    ["local port", o.localPort],
    ["remote port", o.remotePort],
  ] as const) {
    if (value.trim() === "") continue;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      return `the ${name} is a number from 1 to 65535`;
    if (name === "local port") out.localPort = n;
    else out.remotePort = n;
  }
  const args = o.sshArgs
    .split("\n")
    .map((a) => a.trim())
    .filter((a) => a !== "");
  if (args.length > 50) return "at most 50 extra ssh arguments";
  if (args.length > 0) out.sshArgs = args;
  return out;
}

function AddTarget(props: { store: RemoteStore; onReply: (r: CommandReply) => void }) {
  const [text, setText] = createSignal("");
  const [invalid, setInvalid] = createSignal<string>();
  const [busy, setBusy] = createSignal(false);
  const [showOptions, setShowOptions] = createSignal(false);
  const [identity, setIdentity] = createSignal("");
  const [proxyJump, setProxyJump] = createSignal("");
  const [localPort, setLocalPort] = createSignal("");
  const [remotePort, setRemotePort] = createSignal("");
  const [sshArgs, setSshArgs] = createSignal("");
  async function submit(e: Event) {
    e.preventDefault();
    try {
      parseTarget(text());
    } catch (err) {
      setInvalid((err as Error).message);
      return;
    }
    const options = typedOptions({
      identity: identity(),
      proxyJump: proxyJump(),
      localPort: localPort(),
      remotePort: remotePort(),
      sshArgs: sshArgs(),
    });
    if (typeof options === "string") {
      setInvalid(options);
      return;
    }
    setInvalid(undefined);
    setBusy(true);
    const r = await props.store.connect(
      text().trim(),
      undefined,
      Object.keys(options).length > 0 ? options : undefined,
    );
    setBusy(false);
    props.onReply(r);
    if (r.ok) setText("");
  }
  return (
    <form class="remote-add" onSubmit={submit}>
      <div class="remote-add-row">
        <input
          type="text"
          placeholder="[user@]host[:port]"
          aria-label="New target"
          data-testid="remote-add-input"
          value={text()}
          onInput={(e) => {
            setText(e.currentTarget.value);
            setInvalid(undefined);
          }}
        />
        <button type="submit" class="button" disabled={busy() || text().trim() === ""}>
          Connect
        </button>
        <button
          type="button"
          class="link-button"
          aria-expanded={showOptions()}
          data-testid="remote-add-options-toggle"
          onClick={() => setShowOptions(!showOptions())}
        >
          Options {showOptions() ? "▾" : "▸"}
        </button>
      </div>
      <Show when={showOptions()}>
        <div class="remote-add-options" data-testid="remote-add-options">
          <label>
            Identity file (--identity)
            <input
              placeholder="~/.ssh/id_ed25519"
              value={identity()}
              onInput={(e) => setIdentity(e.currentTarget.value)}
              data-testid="remote-opt-identity"
            />
          </label>
          <label>
            Proxy jump (--proxy-jump)
            <input
              placeholder="user@bastion"
              value={proxyJump()}
              onInput={(e) => setProxyJump(e.currentTarget.value)}
              data-testid="remote-opt-jump"
            />
          </label>
          <label>
            Local port (--local-port)
            <input
              inputMode="numeric"
              placeholder="any free one"
              value={localPort()}
              onInput={(e) => setLocalPort(e.currentTarget.value)}
              data-testid="remote-opt-local-port"
            />
          </label>
          <label>
            Remote port (--remote-port)
            <input
              inputMode="numeric"
              placeholder="any free one"
              value={remotePort()}
              onInput={(e) => setRemotePort(e.currentTarget.value)}
              data-testid="remote-opt-remote-port"
            />
          </label>
          <label class="wide">
            Extra ssh arguments (--ssh-arg), one per line
            <textarea
              rows={2}
              spellcheck={false}
              placeholder={"-oServerAliveInterval=30\n-F/path/to/config"}
              value={sshArgs()}
              onInput={(e) => setSshArgs(e.currentTarget.value)}
              data-testid="remote-opt-ssh-args"
            />
          </label>
        </div>
      </Show>
      <Show when={invalid()}>
        <p class="remote-invalid" role="alert">
          {invalid()}
        </p>
      </Show>
      <p class="remote-help">
        A target is <code>[user@]host[:port]</code>, e.g. <code>alice@server</code> or{" "}
        <code>server:2222</code>. Connecting logs in with your SSH keys, copies cocalc-plus there if
        it is missing (the remote needs only Node.js 20+, no internet), starts it on the remote's
        127.0.0.1 and forwards a local port to it. It keeps running there when the tunnel closes,
        like tmux.
      </p>
    </form>
  );
}

/** What ssh asks while this page's person connects: answered here, sent once, never stored. */
function SshQuestion(props: {
  sid: string;
  ask: NonNullable<RemoteSessionView["ask"]>;
  store: RemoteStore;
}) {
  const [value, setValue] = createSignal("");
  const [problem, setProblem] = createSignal<string>();
  const [sending, setSending] = createSignal(false);
  const send = async (answer: string | undefined) => {
    setSending(true);
    try {
      const r = await props.store.answer(props.sid, props.ask.ask, answer);
      if (!r.ok) setProblem(r.error.message);
    } catch (err) {
      setProblem(messageOf(err));
    } finally {
      setValue("");
      setSending(false);
    }
  };
  return (
    <form
      class="remote-ask"
      role="dialog"
      aria-label="ssh asks"
      data-testid="remote-ask"
      onSubmit={(e) => {
        e.preventDefault();
        void send(value());
      }}
    >
      <label>
        <span class="remote-ask-prompt" data-testid="remote-ask-prompt">
          {props.ask.prompt.trim()}
        </span>
        <input
          type={props.ask.secret ? "password" : "text"}
          autocomplete="off"
          value={value()}
          onInput={(e) => setValue(e.currentTarget.value)}
          data-testid="remote-ask-input"
          ref={(el) => queueMicrotask(() => el.focus())}
        />
      </label>
      <div class="remote-ask-actions">
        <button
          type="submit"
          class="button primary"
          disabled={sending()}
          data-testid="remote-ask-send"
        >
          Send
        </button>
        <button
          type="button"
          class="button"
          disabled={sending()}
          onClick={() => void send(undefined)}
        >
          Cancel
        </button>
      </div>
      <Show when={problem()}>
        <div class="remote-note remote-note-bad">{problem()}</div>
      </Show>
    </form>
  );
}

function SessionRow(props: {
  s: RemoteSessionView;
  store: RemoteStore;
  onReply: (r: CommandReply) => void;
  now: () => number;
}) {
  const s = () => props.s;
  const [copied, setCopied] = createSignal(false);
  const running = () => s().status === "running";
  const open = async () => {
    if (running()) {
      // The window opens now, while the click counts; it is sent on once the link is signed.
      const w = window.open("about:blank", `cocalc-remote-${s().sid}`);
      try {
        const link = await signedLink(openUrl(s().sid));
        if (w) w.location.href = link;
        else window.location.assign(link);
      } catch (err) {
        w?.close();
        props.onReply({ ok: false, error: { code: "ERR_GATEWAY_AUTH", message: messageOf(err) } });
      }
      return;
    }
    props.onReply(await props.store.connect(s().target));
  };
  const copy = async () => {
    await navigator.clipboard?.writeText(s().target).catch(() => undefined);
    setCopied(true);
    setTimeout(() => setCopied(false), 1200);
  };
  const upgrade = async () => {
    if (
      !confirm(
        `Upgrade cocalc-plus on ${s().target} from ${s().remoteVersion ?? "?"} to ${s().localVersion ?? "this version"}?\n\nThe remote cocalc-plus restarts: its running terminals and notebooks restart too.`,
      )
    )
      return;
    props.onReply(await props.store.connect(s().target, { upgrade: true }));
  };
  const remove = async () => {
    if (
      !confirm(
        `Remove ${s().target}?\n\nThis stops cocalc-plus there, ends the tunnel and every port forward and sync pair of the session, and forgets it here. No file is deleted on either machine.`,
      )
    )
      return;
    props.onReply(await props.store.remove(s().sid));
  };
  const [syncOpen, setSyncOpen] = createSignal(false);
  const [forwardsOpen, setForwardsOpen] = createSignal(false);
  return (
    <>
      <tr data-testid="remote-row" data-status={s().status}>
        <td>
          <button
            type="button"
            class="remote-star"
            aria-pressed={s().starred}
            title={s().starred ? "Unstar" : "Star"}
            onClick={async () => props.onReply(await props.store.star(s().sid, !s().starred))}
          >
            {s().starred ? "★" : "☆"}
          </button>
        </td>
        <td class="remote-target">
          <button type="button" class="link" onClick={open} title="Open">
            {s().target}
          </button>
          <button type="button" class="remote-copy" title="Copy the target" onClick={copy}>
            {copied() ? "copied" : "copy"}
          </button>
        </td>
        <td>
          <span class="remote-status" data-status={s().status}>
            <span class="status-dot" />
            {s().status}
          </span>
          <Show when={s().status !== "running" && s().status !== "failed" && s().progress}>
            <div class="remote-note">{s().progress}</div>
          </Show>
          <Show when={s().ask}>
            {(a) => <SshQuestion sid={s().sid} ask={a()} store={props.store} />}
          </Show>
          <Show when={s().error && s().status !== "running"}>
            <div class="remote-note remote-note-bad" data-testid="remote-row-error">
              {s().error?.message}
            </div>
            <Show when={s().status === "reconnecting" && s().error?.retryAt}>
              {(at) => (
                <div class="remote-note" data-testid="remote-row-retry">
                  attempt {s().error?.attempt} of {s().error?.maxAttempts} failed; the next at{" "}
                  {new Date(at()).toLocaleTimeString()}
                </div>
              )}
            </Show>
            <Show when={s().error?.sshOutput}>
              <details class="remote-ssh-output">
                <summary>ssh output</summary>
                <pre>{s().error?.sshOutput}</pre>
              </details>
            </Show>
          </Show>
          <Show when={s().tunnelRestarts > 0}>
            <div class="remote-note">tunnel restarted {s().tunnelRestarts}×</div>
          </Show>
        </td>
        <td>{s().localPort ?? "–"}</td>
        <td>
          {s().remoteVersion ?? "–"}
          <Show when={s().versionMismatch}>
            <div class="remote-note remote-note-warn">this is {s().localVersion}</div>
          </Show>
        </td>
        <td class="remote-nowrap" title={s().lastUsed}>
          {ago(s().lastUsed, props.now())}
        </td>
        <td>
          <div class="remote-actions">
            <button type="button" class="button" onClick={open}>
              {running() ? "Open" : "Connect"}
            </button>
            <Show when={!["stopped", "failed", "removing"].includes(s().status)}>
              <button
                type="button"
                class="button"
                onClick={async () => props.onReply(await props.store.stop(s().sid))}
              >
                Stop
              </button>
            </Show>
            <Show when={s().versionMismatch}>
              <button type="button" class="button" onClick={upgrade}>
                Upgrade
              </button>
            </Show>
            <button
              type="button"
              class="button"
              aria-expanded={syncOpen()}
              data-testid="remote-sync-toggle"
              onClick={() => setSyncOpen(!syncOpen())}
            >
              Synced folders
            </button>
            <button
              type="button"
              class="button"
              aria-expanded={forwardsOpen()}
              data-testid="remote-forwards-toggle"
              onClick={() => setForwardsOpen(!forwardsOpen())}
            >
              Port forwards
            </button>
            <button type="button" class="button" onClick={remove}>
              Remove
            </button>
          </div>
        </td>
      </tr>
      <Show when={syncOpen()}>
        <tr class="remote-detail" data-testid="remote-sync-row">
          <td colSpan={7}>
            <SyncPairs session={s().target} />
          </td>
        </tr>
      </Show>
      <Show when={forwardsOpen()}>
        <tr class="remote-detail" data-testid="remote-forwards-row">
          <td colSpan={7}>
            <PortForwards session={s().target} />
          </td>
        </tr>
      </Show>
    </>
  );
}
