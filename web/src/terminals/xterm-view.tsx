/**
 * The xterm.js wrapper: owns one Terminal (with fit, web-links and search addons) attached
 * to one terminal through the store, and disposes all of it in onCleanup. The screen's size
 * follows the terminal's recording; the pane's size is only asked for (when this pane
 * appears, is resized or gets focus), so every viewer shows the same screen.
 */
import { FitAddon } from "@xterm/addon-fit";
import { SearchAddon } from "@xterm/addon-search";
import { WebLinksAddon } from "@xterm/addon-web-links";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { createEffect, on, onCleanup, onMount } from "solid-js";
import {
  TERM_MAX_COLS,
  TERM_MAX_ROWS,
  TERM_MIN_COLS,
  TERM_MIN_ROWS,
  TERM_SCROLLBACK,
} from "../../../shared/terminals.js";
import { useConnectionState } from "../stores/connection-store.js";
import type { KeysState, SessionStatus } from "./terminal-session.js";
import { useTerminals } from "./terminals-store.js";
import { terminalTheme } from "./theme.js";

/** What the pane around a terminal can do with it. */
export interface XtermApi {
  findNext(text: string): boolean;
  findPrevious(text: string): boolean;
  clearSearch(): void;
  /** Copies the selection to the clipboard; false when nothing is selected. */
  copy(): Promise<boolean>;
  focus(): void;
}

const MONO =
  'ui-monospace, "SFMono-Regular", "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace';

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.floor(n)));
}

async function writeClipboard(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No async clipboard (insecure origin, no permission): the old way.
    const area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

export function XtermView(props: {
  tid: string;
  fontSize: number;
  /** The page is dark: the terminal uses dark colours too. */
  dark: boolean;
  onApi?(api: XtermApi | undefined): void;
  /** Ctrl+Shift+F (or Cmd+F) in the terminal. */
  onSearch?(): void;
  onStatus?(status: SessionStatus, problem?: string): void;
  /** Keystrokes waiting for the connection, or dropped (terminal-session.ts `keys`). */
  onKeys?(state: KeysState): void;
}) {
  const store = useTerminals();
  const readOnly = useConnectionState().readOnly;
  let host!: HTMLDivElement;

  onMount(() => {
    const term = new Terminal({
      // A viewer watches; its keystrokes would be refused anyway.
      disableStdin: readOnly(),
      scrollback: TERM_SCROLLBACK,
      fontFamily: MONO,
      fontSize: props.fontSize,
      theme: terminalTheme(props.dark),
      lineHeight: 1.15,
      cursorBlink: true,
      macOptionIsMeta: true,
      allowProposedApi: true,
    });
    const fit = new FitAddon();
    const search = new SearchAddon();
    term.loadAddon(fit);
    term.loadAddon(search);
    term.loadAddon(new WebLinksAddon());
    term.open(host);

    const session = store.attach(
      props.tid,
      {
        reset: () => term.reset(),
        resize: (cols, rows) => {
          if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows);
        },
        write: (data, done) => term.write(data, done),
      },
      {
        status: (status, problem) => {
          props.onStatus?.(status, problem);
          if (status === "live") askForSize();
        },
        keys: (state) => props.onKeys?.(state),
      },
    );

    /** Asks for the size this pane fits, unless the terminal has it already. */
    function askForSize() {
      const d = fit.proposeDimensions();
      if (!d || !Number.isFinite(d.cols) || !Number.isFinite(d.rows)) return; // hidden
      const cols = clamp(d.cols, TERM_MIN_COLS, TERM_MAX_COLS);
      const rows = clamp(d.rows, TERM_MIN_ROWS, TERM_MAX_ROWS);
      if (cols !== term.cols || rows !== term.rows) session.resize(cols, rows);
    }
    let resizeTimer: ReturnType<typeof setTimeout> | undefined;
    const observer = new ResizeObserver(() => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(askForSize, 60);
    });
    observer.observe(host);
    // The pane last used decides the size (like tmux's "latest" window size).
    const onFocus = () => askForSize();
    term.textarea?.addEventListener("focus", onFocus);

    const copy = async () => {
      const text = term.getSelection();
      if (!text) return false;
      const ok = await writeClipboard(text);
      term.focus();
      return ok;
    };
    // Typing into a terminal whose shell is still starting: keep it until the shell runs.
    let early: (string | Uint8Array)[] | undefined = [];
    const input = (data: string | Uint8Array) => {
      if (readOnly()) return;
      if (early) early.push(data);
      else session.input(data);
    };
    createEffect(() => {
      if (early && store.records[props.tid]?.pid !== undefined) {
        for (const data of early) session.input(data);
        early = undefined;
      }
    });
    term.onData(input);
    // Mouse reports in some modes are "binary" strings: one char per byte.
    term.onBinary((data) => input(Uint8Array.from(data, (c) => c.charCodeAt(0) & 255)));
    term.attachCustomKeyEventHandler((ev) => {
      if (ev.type !== "keydown") return true;
      const key = ev.key.toLowerCase();
      const ctrlShift = ev.ctrlKey && ev.shiftKey && !ev.altKey;
      const cmd = ev.metaKey && !ev.ctrlKey && !ev.altKey;
      // Copy: Ctrl+Shift+C, Cmd+C, Ctrl+Insert, and Ctrl+C while text is selected (else ^C).
      const copyKey =
        ((ctrlShift || cmd) && key === "c") ||
        (ev.ctrlKey && key === "insert") ||
        (ev.ctrlKey && !ev.shiftKey && !ev.altKey && key === "c" && term.hasSelection());
      if (copyKey) {
        ev.preventDefault();
        void copy().then(() => term.clearSelection());
        return false;
      }
      // Paste: let the browser deliver its paste event to xterm (bracketed paste and all).
      if (((ctrlShift || cmd) && key === "v") || (ev.shiftKey && key === "insert")) return false;
      if ((ctrlShift || cmd) && key === "f") {
        ev.preventDefault();
        props.onSearch?.();
        return false;
      }
      return true;
    });

    // A member made a viewer with the terminal open watches from then on (and back).
    createEffect(
      on(
        readOnly,
        (ro) => {
          term.options.disableStdin = ro;
        },
        { defer: true },
      ),
    );
    createEffect(
      on(
        () => props.dark,
        (dark) => {
          term.options.theme = terminalTheme(dark);
        },
        { defer: true },
      ),
    );
    createEffect(
      on(
        () => props.fontSize,
        (size) => {
          term.options.fontSize = size;
          askForSize();
        },
        { defer: true },
      ),
    );

    // Every match marked, the current one stronger (and on the scrollbar).
    const found = {
      caseSensitive: false,
      decorations: {
        matchBackground: "#f5d76e",
        matchBorder: "#d7a52a",
        matchOverviewRuler: "#d7a52a",
        activeMatchBackground: "#ff9632",
        activeMatchBorder: "#c2410c",
        activeMatchColorOverviewRuler: "#c2410c",
      },
    };
    props.onApi?.({
      findNext: (text) => search.findNext(text, found),
      findPrevious: (text) => search.findPrevious(text, found),
      clearSearch: () => {
        search.clearDecorations();
        term.clearSelection();
      },
      copy,
      focus: () => term.focus(),
    });
    term.focus();

    onCleanup(() => {
      props.onApi?.(undefined);
      clearTimeout(resizeTimer);
      observer.disconnect();
      term.textarea?.removeEventListener("focus", onFocus);
      session.stop();
      term.dispose();
    });
  });

  return (
    <div
      class="xterm-host"
      ref={host}
      data-testid="terminal-screen"
      data-readonly={String(readOnly())}
    />
  );
}
