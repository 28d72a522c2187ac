/**
 * The sync pairs of a remote session (or of every session): status with a check mark or a
 * progress bar and rate, conflicts, add / edit / pause / resume / check now / delete, and a
 * short explanation of the ignore syntax. Self-contained: it brings its own store.
 */
import { createMemo, createSignal, For, type JSX, Show } from "solid-js";
import type { CommandReply } from "../../../shared/commands.js";
import { sessionIdOf } from "../../../shared/remote.js";
import {
  type AddSyncPairData,
  describeDirection,
  displayRoot,
  explainPathStatus,
  formatBytes,
  IGNORE_HELP,
  previewSummary,
  previewVerb,
  type SyncDirection,
  type SyncPairView,
  type SyncPreview,
  type SyncSide,
  syncSummary,
} from "../../../shared/sync.js";
import { Icon } from "../components/icons.js";
import { useConnection } from "../stores/connection-store.js";
import { ConflictItem } from "./sync-conflict.js";
import { createSyncStore, type SyncStore } from "./sync-store.js";
import "./sync.css";

export const SyncIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M20 11a8 8 0 0 0-14.3-4.9L4 8M4 4v4h4M4 13a8 8 0 0 0 14.3 4.9L20 16M20 20v-4h-4" />
  </Icon>
);

const CheckIcon = () => (
  <Icon size={16} strokeWidth={2.2}>
    <path d="m5 12 5 5 9-10" />
  </Icon>
);

export interface SyncPairsProps {
  /** Only this session's pairs (and new pairs go to it); absent: every pair, grouped. */
  session?: string;
  /** Where the remote workspace shows a remote path, if the session has one. */
  remoteHref?: (pair: SyncPairView) => string | undefined;
}

/** The link that opens a local root in the explorer. */
export function localHref(root: string): string {
  const segs = root.split("/").filter(Boolean).map(encodeURIComponent).join("/");
  return root.startsWith("/") ? `/fs/${segs}#files` : `/files/${segs}#files`;
}

/** Two ways of writing one target (`host` and `host:22` differ; spacing and brackets do not). */
function sameSession(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return sessionIdOf(a) === sessionIdOf(b);
  } catch {
    return false;
  }
}

export function SyncPairs(props: SyncPairsProps) {
  const store = createSyncStore(useConnection());
  const pairs = createMemo(() =>
    Object.values(store.state.pairs)
      .filter((p) => p && (props.session === undefined || sameSession(p.session, props.session)))
      .sort((a, b) => a.session.localeCompare(b.session) || a.local.localeCompare(b.local)),
  );
  const [adding, setAdding] = createSignal(false);
  return (
    <div class="sync" data-testid="sync-pairs">
      <div class="sync-head">
        <h2>
          <SyncIcon size={18} /> Synced folders
        </h2>
        <button
          type="button"
          class="button"
          data-testid="sync-add"
          onClick={() => setAdding(!adding())}
        >
          {adding() ? "Cancel" : "Add folder"}
        </button>
      </div>
      <Show when={store.state.problem}>
        <p class="banner banner-warn" role="status">
          Sync status is not updating: {store.state.problem} (retrying)
        </p>
      </Show>
      <Show when={adding()}>
        <PairForm
          store={store}
          {...(props.session !== undefined && { session: props.session })}
          onDone={() => setAdding(false)}
        />
      </Show>
      <Show
        when={pairs().length > 0}
        fallback={
          <p class="sync-empty" data-testid="sync-empty">
            No synced folders yet. Add one to keep a folder identical here and on the remote.
          </p>
        }
      >
        <ul class="sync-list">
          <For each={pairs()}>
            {(p) => (
              <PairRow
                pair={p}
                store={store}
                showSession={props.session === undefined}
                {...(props.remoteHref && { remoteHref: props.remoteHref })}
              />
            )}
          </For>
        </ul>
      </Show>
    </div>
  );
}

function Failure(props: { reply: CommandReply | undefined }) {
  return (
    <Show when={props.reply && !props.reply.ok ? props.reply : undefined}>
      {(r) => (
        <p class="sync-error" role="alert" data-testid="sync-error">
          {(r() as Extract<CommandReply, { ok: false }>).error.message}
        </p>
      )}
    </Show>
  );
}

function PairRow(props: {
  pair: SyncPairView;
  store: SyncStore;
  showSession: boolean;
  remoteHref?: (pair: SyncPairView) => string | undefined;
}) {
  const [reply, setReply] = createSignal<CommandReply>();
  const [editing, setEditing] = createSignal(false);
  const [confirming, setConfirming] = createSignal(false);
  const [showConflicts, setShowConflicts] = createSignal(false);
  const p = () => props.pair;
  const act = async (f: () => Promise<CommandReply>) => setReply(await f());
  const progress = () => {
    const cmp = p().comparing;
    if (cmp && cmp.total > 0) return { frac: Math.min(1, cmp.hashed / cmp.total), rate: undefined };
    const c = p().cycle;
    if (!c || p().status !== "syncing" || c.pendingFiles === 0) return undefined;
    const frac = c.pendingBytes > 0 ? c.doneBytes / c.pendingBytes : c.doneFiles / c.pendingFiles;
    return { frac: Math.max(0, Math.min(1, frac)), rate: c.rate };
  };
  const remote = () => props.remoteHref?.(p());
  return (
    <li class="sync-pair" data-testid="sync-pair" data-status={p().status}>
      <div class="sync-paths">
        <a class="sync-path" href={localHref(p().local)} title="Open in the explorer">
          {displayRoot(p().local)}
        </a>
        <span
          class="sync-arrow"
          title={describeDirection(p().direction)}
          data-testid="sync-direction"
          data-direction={p().direction ?? "both"}
        >
          {p().direction === "to-remote" ? "→" : p().direction === "to-local" ? "←" : "⇄"}
        </span>
        <Show
          when={remote()}
          fallback={
            <span class="sync-path sync-path-remote" title={`on ${p().session}`}>
              {displayRoot(p().remote)}
            </span>
          }
        >
          {(href) => (
            <a class="sync-path sync-path-remote" href={href()} target="_blank" rel="noopener">
              {displayRoot(p().remote)}
            </a>
          )}
        </Show>
        <Show when={props.showSession}>
          <span class="sync-session">on {p().session}</span>
        </Show>
      </div>
      <div class="sync-status" data-testid="sync-status">
        <Show when={p().status === "synced" && !p().paused}>
          <span class="sync-ok">
            <CheckIcon />
          </span>
        </Show>
        <span class={`sync-summary sync-${p().status}`}>{syncSummary(p())}</span>
        <Show when={progress()}>
          {(g) => (
            <>
              <span
                class="sync-bar"
                role="progressbar"
                aria-valuemin={0}
                aria-valuemax={100}
                aria-valuenow={Math.round(g().frac * 100)}
              >
                <span style={{ width: `${Math.round(g().frac * 100)}%` }} />
              </span>
              <span class="sync-pct" data-testid="sync-percent">
                {Math.floor(g().frac * 100)}%
              </span>
              <Show when={g().rate !== undefined}>
                <span class="sync-rate">{formatBytes(g().rate ?? 0)}/s</span>
              </Show>
            </>
          )}
        </Show>
        <Show when={p().status === "synced" && p().synced !== undefined}>
          <span class="sync-meta">
            {p().synced} {p().synced === 1 ? "entry" : "entries"}
            {p().lastSyncAt ? ` · ${new Date(p().lastSyncAt!).toLocaleTimeString()}` : ""}
          </span>
        </Show>
      </div>
      <div class="sync-actions">
        <button
          type="button"
          class="button"
          disabled={p().paused}
          onClick={() => act(() => props.store.check(p().pair))}
        >
          Check now
        </button>
        <Show
          when={p().paused}
          fallback={
            <button
              type="button"
              class="button"
              onClick={() => act(() => props.store.pause(p().pair))}
            >
              Pause
            </button>
          }
        >
          <button
            type="button"
            class="button"
            onClick={() => act(() => props.store.resume(p().pair))}
          >
            Resume
          </button>
        </Show>
        <button type="button" class="button" onClick={() => setEditing(!editing())}>
          Edit
        </button>
        <button type="button" class="button" onClick={() => setConfirming(true)}>
          Delete
        </button>
      </div>
      <Show when={confirming()}>
        <div class="sync-confirm" role="alertdialog">
          Stop syncing {displayRoot(p().local)}? No files are deleted on either side.
          <button
            type="button"
            class="button sync-danger"
            onClick={() => act(() => props.store.remove(p().pair))}
          >
            Stop syncing
          </button>
          <button type="button" class="button" onClick={() => setConfirming(false)}>
            Keep
          </button>
        </div>
      </Show>
      <Failure reply={reply()} />
      <Show when={editing()}>
        <EditForm pair={p()} store={props.store} onDone={() => setEditing(false)} />
      </Show>
      <Show when={p().conflicts.length > 0}>
        <div class="sync-conflicts">
          <button
            type="button"
            class="sync-link"
            onClick={() => setShowConflicts(!showConflicts())}
          >
            {p().conflicts.length} conflict{p().conflicts.length === 1 ? "" : "s"}: both versions
            kept, to settle {showConflicts() ? "▾" : "▸"}
          </button>
          <Show when={showConflicts()}>
            <ul data-testid="sync-conflicts">
              <For each={p().conflicts}>
                {(c) => <ConflictItem pair={p()} conflict={c} store={props.store} />}
              </For>
            </ul>
          </Show>
        </div>
      </Show>
      <Show when={p().status === "error" && p().error}>
        {(e) => <p class="sync-error">{e().message}</p>}
      </Show>
      <WhyDifferent pair={p()} store={props.store} />
    </li>
  );
}

/** "Why is this file different?": one path's status from the scans, the synced state and the last decision. */
function WhyDifferent(props: { pair: SyncPairView; store: SyncStore }) {
  const [open, setOpen] = createSignal(false);
  const [path, setPath] = createSignal("");
  const [answer, setAnswer] = createSignal<string[]>();
  const look = async (e: Event) => {
    e.preventDefault();
    if (path().trim() === "") return;
    const r = await props.store.status(props.pair.pair, path().trim());
    setAnswer(r.ok ? explainPathStatus(r.result) : [r.error.message]);
  };
  return (
    <div class="sync-why">
      <button
        type="button"
        class="sync-link"
        data-testid="sync-why-toggle"
        onClick={() => setOpen(!open())}
      >
        Why is a file different? {open() ? "▾" : "▸"}
      </button>
      <Show when={open()}>
        <form class="sync-why-form" onSubmit={look}>
          <input
            placeholder={`a path in ${displayRoot(props.pair.local)}, e.g. src/main.py`}
            value={path()}
            onInput={(e) => setPath(e.currentTarget.value)}
            data-testid="sync-why-path"
          />
          <button type="submit" class="button" data-testid="sync-why-look">
            Look
          </button>
        </form>
        <Show when={answer()}>
          {(lines) => (
            <ul class="sync-why-answer" data-testid="sync-why-answer">
              <For each={lines()}>{(l) => <li>{l}</li>}</For>
            </ul>
          )}
        </Show>
      </Show>
    </div>
  );
}

function IgnoreField(props: { value: string; onInput: (v: string) => void }): JSX.Element {
  const [help, setHelp] = createSignal(false);
  return (
    <label class="sync-field sync-field-wide">
      <span>
        Ignore patterns{" "}
        <button type="button" class="sync-link" onClick={() => setHelp(!help())}>
          {help() ? "hide syntax" : "syntax"}
        </button>
      </span>
      <textarea
        rows={3}
        spellcheck={false}
        placeholder={"node_modules/\n*.log"}
        value={props.value}
        onInput={(e) => props.onInput(e.currentTarget.value)}
        data-testid="sync-ignore"
      />
      <Show when={help()}>
        <pre class="sync-help" data-testid="sync-ignore-help">
          {IGNORE_HELP}
        </pre>
      </Show>
    </label>
  );
}

function PreferField(props: { value: SyncSide; onChange: (v: SyncSide) => void }) {
  return (
    <label class="sync-field">
      <span>A conflict is won by</span>
      <select
        value={props.value}
        onChange={(e) => props.onChange(e.currentTarget.value as SyncSide)}
      >
        <option value="local">this machine</option>
        <option value="remote">the remote</option>
      </select>
    </label>
  );
}

function DirectionField(props: { value: SyncDirection; onChange: (v: SyncDirection) => void }) {
  return (
    <label class="sync-field">
      <span>Direction</span>
      <select
        data-testid="sync-direction-field"
        value={props.value}
        onChange={(e) => props.onChange(e.currentTarget.value as SyncDirection)}
      >
        <option value="both">both ways</option>
        <option value="to-remote">mirror this machine → the remote</option>
        <option value="to-local">mirror the remote → this machine</option>
      </select>
      <Show when={props.value !== "both"}>
        <small class="sync-note" data-testid="sync-direction-note">
          The {props.value === "to-remote" ? "remote" : "local"} folder becomes a copy: its own
          changes are undone and files only it holds are deleted (ignored files are left alone).
        </small>
      </Show>
    </label>
  );
}

function PairForm(props: { store: SyncStore; session?: string; onDone: () => void }) {
  const [session, setSession] = createSignal(props.session ?? "");
  const [local, setLocal] = createSignal("");
  const [remote, setRemote] = createSignal("");
  const [ignore, setIgnore] = createSignal("");
  const [prefer, setPrefer] = createSignal<SyncSide>("local");
  const [direction, setDirection] = createSignal<SyncDirection>("both");
  const [outside, setOutside] = createSignal(false);
  const [reply, setReply] = createSignal<CommandReply>();
  const [busy, setBusy] = createSignal(false);
  const [preview, setPreview] = createSignal<SyncPreview | string>();
  const data = (): AddSyncPairData => ({
    session: session().trim(),
    local: local(),
    ...(remote().trim() !== "" && { remote: remote() }),
    ...(ignore().trim() !== "" && { ignore: ignore() }),
    prefer: prefer(),
    ...(direction() !== "both" && { direction: direction() }),
    ...(outside() && { outsideHome: true }),
  });
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const r = await props.store.add(data());
    setBusy(false);
    setReply(r);
    if (r.ok) props.onDone();
  };
  const dryRun = async () => {
    setBusy(true);
    setPreview("Scanning both folders…");
    try {
      const r = await props.store.preview(data());
      setPreview(r.ok ? r.result : r.error.message);
    } catch (err) {
      setPreview((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="sync-form" onSubmit={submit} data-testid="sync-form">
      <Show when={props.session === undefined}>
        <label class="sync-field">
          <span>Remote session</span>
          <input
            required
            placeholder="user@host:port"
            value={session()}
            onInput={(e) => setSession(e.currentTarget.value)}
          />
        </label>
      </Show>
      <label class="sync-field">
        <span>Folder here</span>
        <input
          required
          placeholder="~/project"
          value={local()}
          onInput={(e) => setLocal(e.currentTarget.value)}
          data-testid="sync-local"
        />
      </label>
      <label class="sync-field">
        <span>Folder on the remote</span>
        <input
          placeholder="same as here"
          value={remote()}
          onInput={(e) => setRemote(e.currentTarget.value)}
        />
      </label>
      <DirectionField value={direction()} onChange={setDirection} />
      <Show when={direction() === "both"}>
        <PreferField value={prefer()} onChange={setPrefer} />
      </Show>
      <IgnoreField value={ignore()} onInput={setIgnore} />
      <p class="sync-note">
        Paths are relative to each machine's home; <code>~/</code> means that machine's home. A
        missing folder is created.
      </p>
      <label class="sync-check">
        <input
          type="checkbox"
          checked={outside()}
          onChange={(e) => setOutside(e.currentTarget.checked)}
        />
        allow folders outside the home directory
      </label>
      <div class="sync-form-actions">
        <button type="submit" class="button" disabled={busy()} data-testid="sync-submit">
          Start syncing
        </button>
        <button
          type="button"
          class="button"
          disabled={busy() || session().trim() === "" || local().trim() === ""}
          data-testid="sync-preview"
          onClick={() => void dryRun()}
        >
          Preview changes
        </button>
      </div>
      <Failure reply={reply()} />
      <Show when={preview()}>{(p) => <PreviewList preview={p()} />}</Show>
    </form>
  );
}

/** Rows of a dry run shown at once; the rest on request (a big tree lists thousands). */
const PREVIEW_PAGE = 100;

function PreviewList(props: { preview: SyncPreview | string }) {
  const [shown, setShown] = createSignal(PREVIEW_PAGE);
  return (
    <div class="sync-preview" data-testid="sync-preview-result">
      <Show
        when={typeof props.preview !== "string" ? (props.preview as SyncPreview) : undefined}
        fallback={<p class="sync-meta">{props.preview as string}</p>}
      >
        {(p) => (
          <>
            <p data-testid="sync-preview-summary">
              <strong>Dry run:</strong> {previewSummary(p())}. Nothing was changed.
            </p>
            <ul class="sync-preview-items">
              <For each={p().items.slice(0, shown())}>
                {(i) => (
                  <li data-action={i.action}>
                    <span class="sync-preview-verb">{previewVerb(i)}</span> <code>{i.path}</code>
                  </li>
                )}
              </For>
            </ul>
            <Show when={p().items.length > shown()}>
              <button
                type="button"
                class="sync-link"
                onClick={() => setShown(shown() + PREVIEW_PAGE)}
              >
                Show {Math.min(PREVIEW_PAGE, p().items.length - shown())} more of{" "}
                {p().items.length - shown() + p().more}
              </button>
            </Show>
            <Show when={p().more > 0 && p().items.length <= shown()}>
              <p class="sync-meta">… and {p().more} more not listed</p>
            </Show>
          </>
        )}
      </Show>
    </div>
  );
}

function EditForm(props: { pair: SyncPairView; store: SyncStore; onDone: () => void }) {
  const [ignore, setIgnore] = createSignal(props.pair.ignore);
  const [prefer, setPrefer] = createSignal<SyncSide>(props.pair.prefer);
  const [direction, setDirection] = createSignal<SyncDirection>(props.pair.direction ?? "both");
  const [reply, setReply] = createSignal<CommandReply>();
  const submit = async (e: Event) => {
    e.preventDefault();
    const r = await props.store.change(props.pair.pair, {
      ignore: ignore(),
      prefer: prefer(),
      direction: direction(),
    });
    setReply(r);
    if (r.ok) props.onDone();
  };
  return (
    <form class="sync-form" onSubmit={submit}>
      <DirectionField value={direction()} onChange={setDirection} />
      <Show when={direction() === "both"}>
        <PreferField value={prefer()} onChange={setPrefer} />
      </Show>
      <IgnoreField value={ignore()} onInput={setIgnore} />
      <div class="sync-form-actions">
        <button type="submit" class="button">
          Save
        </button>
        <button type="button" class="button" onClick={() => props.onDone()}>
          Cancel
        </button>
      </div>
      <Failure reply={reply()} />
    </form>
  );
}

/** The Sync tab: every pair of every session (the Remote sessions page shows one session's). */
export function SyncPane() {
  const remoteOf = useConnection().remoteOf;
  return (
    <div class="sync-page">
      <Show when={remoteOf}>
        {(target) => (
          <p class="banner banner-info" data-testid="sync-remote-side">
            This window is the remote side of a cocalc-plus ssh session ({target()}). Folders synced
            with the machine it was connected from are set up and shown there, in its Sync tab;
            pairs below are this machine's own, with its own remote sessions.
          </p>
        )}
      </Show>
      <SyncPairs />
    </div>
  );
}
