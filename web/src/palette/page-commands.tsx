/**
 * The page's actions, one list: the command palette (Ctrl-Shift-P) shows them with their
 * shortcuts, and the same list answers the shortcuts. Quick open (Ctrl-P) finds files by
 * fuzzy name: recent files first, then the workspace's names from the fs service (.gitignore
 * respected); `name:42` opens at line 42. In a terminal, shortcuts that a shell uses itself
 * (Ctrl-P is the previous command) go to the terminal.
 */
import { createSignal, onCleanup, Show } from "solid-js";
import { displayPath, nameOf, parentOf } from "../../../shared/paths.js";
import { fuzzyScore } from "../../../shared/search.js";
import { useFiles } from "../files/files-store.js";
import { showTab } from "../files/route.js";
import type { TabId, WorkspaceTab } from "../tabs.js";
import { Picker, type PickerItem } from "./picker.js";

export interface Shortcut {
  key: string;
  ctrl?: boolean;
  shift?: boolean;
  /** Also taken from a terminal (a shell has no use for it). */
  inTerminal?: boolean;
}

export interface PageCommand {
  id: string;
  label: string;
  keys?: Shortcut;
  run(): void;
}

/** How a shortcut is written: `Ctrl+Shift+P`. */
export function shortcutText(s: Shortcut): string {
  return [s.ctrl && "Ctrl", s.shift && "Shift", s.key.length === 1 ? s.key.toUpperCase() : s.key]
    .filter(Boolean)
    .join("+");
}

function pressed(e: KeyboardEvent, s: Shortcut): boolean {
  return (
    e.key.toLowerCase() === s.key.toLowerCase() &&
    (e.ctrlKey || e.metaKey) === (s.ctrl === true) &&
    e.shiftKey === (s.shift === true) &&
    !e.altKey
  );
}

const inTerminal = (t: EventTarget | null) => t instanceof Element && t.closest(".xterm") !== null;

/** `path:line` → the path and the line. */
function lineOf(text: string): { text: string; line?: number } {
  const m = /^(.*?):(\d+)$/.exec(text.trim());
  return m ? { text: m[1]!, line: Number(m[2]) } : { text: text.trim() };
}

interface FileItem extends PickerItem {
  path: string;
}

export function PageCommands(props: {
  tabs: readonly WorkspaceTab[];
  select: (id: TabId) => void;
}) {
  const files = useFiles();
  const [open, setOpen] = createSignal<"files" | "commands">();

  const commands: PageCommand[] = [
    {
      id: "quick-open",
      label: "Go to file…",
      keys: { key: "p", ctrl: true },
      run: () => setOpen("files"),
    },
    {
      id: "palette",
      label: "Show all commands",
      keys: { key: "p", ctrl: true, shift: true, inTerminal: true },
      run: () => setOpen("commands"),
    },
    {
      id: "search",
      label: "Search in files",
      // A terminal has a Ctrl-Shift-F of its own (search in its scrollback).
      keys: { key: "f", ctrl: true, shift: true },
      run: () => showTab("search"),
    },
    {
      id: "close-document",
      label: "Close the open document",
      run: () => {
        const docs = files.session()?.documents;
        const active = docs?.active();
        if (active) docs!.close(active);
      },
    },
    {
      id: "download-document",
      label: "Download the open document",
      run: () => {
        const s = files.session();
        const active = s?.documents.active();
        if (active) void s!.download(active);
      },
    },
    {
      id: "home",
      label: "Show the home folder",
      run: () => {
        const s = files.session();
        if (s) void s.openPath(s.home);
      },
    },
    ...props.tabs.map((t) => ({
      id: `tab-${t.id}`,
      label: `Show ${t.label}`,
      run: () => props.select(t.id),
    })),
  ];

  const onKey = (e: KeyboardEvent) => {
    for (const c of commands) {
      if (!c.keys || !pressed(e, c.keys)) continue;
      if (!c.keys.inTerminal && inTerminal(e.target)) return;
      e.preventDefault();
      e.stopPropagation();
      c.run();
      return;
    }
  };
  window.addEventListener("keydown", onKey, true);
  onCleanup(() => window.removeEventListener("keydown", onKey, true));

  const commandItems = (text: string) =>
    commands
      .map((c) => ({ c, score: fuzzyScore(c.label, text) }))
      .filter((x) => x.score !== null)
      .sort((a, b) => (text === "" ? 0 : b.score! - a.score!))
      .map(({ c }) => ({
        id: c.id,
        label: c.label,
        ...(c.keys && { hint: shortcutText(c.keys) }),
      }));

  const fileItem = (path: string, home: string): FileItem => ({
    id: path,
    path,
    label: nameOf(path),
    detail: displayPath(parentOf(path), home),
  });

  async function fileItems(raw: string): Promise<{ items: FileItem[]; note?: string }> {
    const s = files.session();
    if (!s) return { items: [], note: "Waiting for the file service…" };
    const { text } = lineOf(raw);
    const recent = s.documents
      .recent()
      .map((p) => ({ p, score: fuzzyScore(displayPath(p, s.home), text) }))
      .filter((x) => x.score !== null)
      .sort((a, b) => (text === "" ? 0 : b.score! - a.score!))
      .map((x) => x.p);
    if (text === "") return { items: recent.slice(0, 20).map((p) => fileItem(p, s.home)) };
    const found = await s.fs.call({ op: "find-files", path: s.home, query: text });
    const seen = new Set(recent);
    const items = [...recent.slice(0, 10), ...found.paths.filter((p) => !seen.has(p))].map((p) =>
      fileItem(p, s.home),
    );
    return {
      items,
      ...(found.capped && {
        note: `Only the first ${found.scanned} names of the workspace were looked at.`,
      }),
    };
  }

  return (
    <>
      <Show when={open() === "commands"}>
        <Picker
          label="Command palette"
          placeholder="Type a command"
          testid="command-palette"
          source={commandItems}
          close={() => setOpen(undefined)}
          pick={(item) => commands.find((c) => c.id === item.id)?.run()}
        />
      </Show>
      <Show when={open() === "files"}>
        <Picker<FileItem>
          label="Go to file"
          placeholder="File name (name:line goes to a line)"
          testid="quick-open"
          source={fileItems}
          close={() => setOpen(undefined)}
          pick={(item, text) => void files.session()?.openAt(item.path, lineOf(text).line)}
        />
      </Show>
    </>
  );
}
