/**
 * The Terminals tab: a strip with every terminal of the workspace and "New terminal", and
 * the selected terminal with its toolbar (where it runs, status, viewers, search, font
 * size) and, when its shell has ended, a notice with Restart.
 */
import { createSignal, For, type JSX, lazy, onCleanup, Show } from "solid-js";
import { exitSummary, type TerminalView } from "../../../shared/terminals.js";
import { EmptyState } from "../components/empty-state.js";
import { Icon, TerminalIcon } from "../components/icons.js";
import { useSettings } from "../stores/settings-store.js";
import type { KeysState, SessionStatus } from "./terminal-session.js";
import { useTerminals } from "./terminals-store.js";
import type { XtermApi } from "./xterm-view.js";
import "./terminals.css";

// xterm.js is most of the page's weight: load it when a terminal is first shown.
const XtermView = lazy(() => import("./xterm-view.js").then((m) => ({ default: m.XtermView })));

/** The toolbar's icons: the shared frame, a little smaller and bolder. */
function Glyph(props: { children: JSX.Element }) {
  return (
    <Icon size={15} strokeWidth={1.8}>
      {props.children}
    </Icon>
  );
}

const PlusGlyph = () => (
  <Glyph>
    <path d="M12 5v14M5 12h14" />
  </Glyph>
);
const CloseGlyph = () => (
  <Glyph>
    <path d="M6 6l12 12M18 6L6 18" />
  </Glyph>
);
const SearchGlyph = () => (
  <Glyph>
    <circle cx="11" cy="11" r="6" />
    <path d="M20 20l-4.5-4.5" />
  </Glyph>
);
const EyeGlyph = () => (
  <Glyph>
    <path d="M2 12s3.5-6 10-6 10 6 10 6-3.5 6-10 6S2 12 2 12z" />
    <circle cx="12" cy="12" r="2.5" />
  </Glyph>
);
const RestartGlyph = () => (
  <Glyph>
    <path d="M20 12a8 8 0 1 1-2.34-5.66M20 4v5h-5" />
  </Glyph>
);

/** Where a terminal runs, for people: `~` for the home directory, else the full path. */
function whereOf(t: TerminalView): string {
  return t.path ?? t.cwd ?? "~";
}

function viewersText(t: TerminalView): string {
  const n = t.viewers.length;
  return n === 1 ? "1 viewer" : `${n} viewers`;
}

export function TerminalsPane() {
  const store = useTerminals();
  const settings = useSettings();
  const current = () => {
    const tid = store.selected();
    return tid ? store.records[tid] : undefined;
  };
  const [api, setApi] = createSignal<XtermApi>();
  const [searching, setSearching] = createSignal(false);
  const [query, setQuery] = createSignal("");
  const [status, setStatus] = createSignal<{ status: SessionStatus; problem?: string }>({
    status: "attaching",
  });
  let searchInput: HTMLInputElement | undefined;
  /** Keystrokes waiting for the connection, or what was said of keystrokes given up. */
  const [keysWaiting, setKeysWaiting] = createSignal(0);
  const [keysLost, setKeysLost] = createSignal<string>();
  let lostTimer: ReturnType<typeof setTimeout> | undefined;
  const onKeys = (k: KeysState) => {
    if ("waiting" in k) {
      setKeysWaiting(k.waiting);
      return;
    }
    setKeysLost(
      k.why === "gone"
        ? `${k.lost} keystroke${k.lost === 1 ? "" : "s"} not delivered: the terminal is not running`
        : `${k.lost} keystroke${k.lost === 1 ? "" : "s"} not delivered: no connection for 30 s`,
    );
    clearTimeout(lostTimer);
    lostTimer = setTimeout(() => setKeysLost(undefined), 15_000);
  };
  onCleanup(() => clearTimeout(lostTimer));

  const openSearch = () => {
    setSearching(true);
    queueMicrotask(() => searchInput?.select());
  };
  const closeSearch = () => {
    setSearching(false);
    api()?.clearSearch();
    api()?.focus();
  };
  const closeTerminal = (t: TerminalView) => {
    if (t.status === "running" && !confirm(`End the shell of “${t.title}” and close it?`)) return;
    void store.close(t.tid);
  };

  return (
    <div class="terminals" data-testid="terminals">
      <div class="terminals-bar" role="tablist" aria-label="Terminals">
        <For each={store.list()}>
          {(t) => (
            <div
              class="terminal-tab"
              classList={{ selected: store.selected() === t.tid }}
              data-testid="terminal-tab"
              data-status={t.status}
            >
              <button
                type="button"
                role="tab"
                class="terminal-tab-select"
                aria-selected={store.selected() === t.tid}
                title={`${t.title} — ${whereOf(t)}`}
                onClick={() => store.select(t.tid)}
              >
                <span class="terminal-dot" data-status={t.status} aria-hidden="true" />
                <span class="terminal-tab-title">{t.title}</span>
              </button>
              <button
                type="button"
                class="terminal-tab-close"
                title="Close terminal (ends its shell)"
                aria-label={`Close ${t.title}`}
                onClick={() => closeTerminal(t)}
              >
                <CloseGlyph />
              </button>
            </div>
          )}
        </For>
        <button
          type="button"
          class="terminal-new"
          data-testid="terminal-new"
          title="New terminal in your home directory"
          onClick={() => void store.create()}
        >
          <PlusGlyph />
          <span>New terminal</span>
        </button>
      </div>

      <Show when={store.lastError()}>
        {(message) => (
          <div class="terminal-notice bad" role="alert" data-testid="terminal-error">
            <span>{message()}</span>
            <button type="button" class="button" onClick={() => store.clearError()}>
              Dismiss
            </button>
          </div>
        )}
      </Show>

      <Show
        when={store.selected()}
        keyed
        fallback={
          <div class="terminals-empty">
            <EmptyState
              icon={<TerminalIcon size={28} />}
              title="No terminals running"
              detail="A terminal keeps running when you reload or close the page."
            />
            <button
              type="button"
              class="button"
              data-testid="terminal-new-empty"
              onClick={() => void store.create()}
            >
              New terminal
            </button>
          </div>
        }
      >
        {(tid) => (
          <div class="terminal-frame" data-testid="terminal" data-tid={tid}>
            <div class="terminal-toolbar">
              <span class="terminal-where" title={current() ? whereOf(current()!) : ""}>
                {current() ? whereOf(current()!) : "opening…"}
              </span>
              <span class="terminal-state" data-testid="terminal-state">
                {status().status === "attaching"
                  ? "attaching…"
                  : status().status === "error"
                    ? `reconnecting: ${status().problem ?? ""}`
                    : !current()
                      ? "starting…"
                      : current()?.status === "exited"
                        ? exitSummary(current()!.exit ?? { code: null, signal: null, at: "" })
                        : "running"}
              </span>
              <Show when={keysWaiting() > 0}>
                <span class="terminal-keys" data-testid="terminal-keys-waiting">
                  keys waiting for the connection…
                </span>
              </Show>
              <Show when={keysLost()}>
                <span
                  class="terminal-keys terminal-keys-lost"
                  role="alert"
                  data-testid="terminal-keys-lost"
                >
                  {keysLost()}
                </span>
              </Show>
              <span class="terminal-spacer" />
              <Show when={current()}>
                {(t) => (
                  <span
                    class="terminal-viewers"
                    data-testid="terminal-viewers"
                    data-count={t().viewers.length}
                    title={t()
                      .viewers.map((v) => v.label)
                      .join("\n")}
                  >
                    <EyeGlyph />
                    {viewersText(t())}
                  </span>
                )}
              </Show>
              <button
                type="button"
                class="terminal-tool"
                title="Search the scrollback (Ctrl+Shift+F)"
                aria-label="Search"
                data-testid="terminal-search-open"
                onClick={() => (searching() ? closeSearch() : openSearch())}
              >
                <SearchGlyph />
              </button>
              <button
                type="button"
                class="terminal-tool"
                title="Smaller text"
                aria-label="Smaller text"
                onClick={() => store.setFontSize(store.fontSize() - 1)}
              >
                A−
              </button>
              <button
                type="button"
                class="terminal-tool"
                title="Larger text"
                aria-label="Larger text"
                onClick={() => store.setFontSize(store.fontSize() + 1)}
              >
                A+
              </button>
            </div>

            <Show when={searching()}>
              <form
                class="terminal-search"
                onSubmit={(e) => {
                  e.preventDefault();
                  api()?.findNext(query());
                }}
              >
                <input
                  ref={searchInput}
                  type="search"
                  placeholder="Find in terminal"
                  data-testid="terminal-search"
                  value={query()}
                  onInput={(e) => {
                    setQuery(e.currentTarget.value);
                    api()?.findNext(e.currentTarget.value);
                  }}
                  onKeyDown={(e) => {
                    if (e.key === "Escape") closeSearch();
                    if (e.key === "Enter" && e.shiftKey) {
                      e.preventDefault();
                      api()?.findPrevious(query());
                    }
                  }}
                />
                <button type="button" class="button" onClick={() => api()?.findPrevious(query())}>
                  Previous
                </button>
                <button type="submit" class="button">
                  Next
                </button>
                <button
                  type="button"
                  class="terminal-tool"
                  aria-label="Close search"
                  onClick={closeSearch}
                >
                  <CloseGlyph />
                </button>
              </form>
            </Show>

            <Show when={current()?.status === "exited" ? current() : undefined}>
              {(t) => (
                <div class="terminal-notice" data-testid="terminal-exited">
                  <span>
                    The shell {exitSummary(t().exit ?? { code: null, signal: null, at: "" })}
                    {t().exit?.reason ? `: ${t().exit?.reason}` : "."}
                  </span>
                  <button
                    type="button"
                    class="button"
                    data-testid="terminal-restart"
                    onClick={() => void store.restart(t().tid).then(() => api()?.focus())}
                  >
                    <RestartGlyph />
                    Restart
                  </button>
                </div>
              )}
            </Show>

            <div class="terminal-body">
              <XtermView
                tid={tid}
                fontSize={store.fontSize()}
                dark={settings.dark()}
                onApi={setApi}
                onSearch={openSearch}
                onStatus={(s, problem) => setStatus({ status: s, ...(problem && { problem }) })}
                onKeys={onKeys}
              />
            </div>
          </div>
        )}
      </Show>
    </div>
  );
}
