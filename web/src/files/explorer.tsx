/**
 * The Files tab: breadcrumb, toolbar, the (virtualised) entries of a directory, actions on
 * the selection, drag-and-drop and button uploads with progress, and the error of a
 * directory that cannot be shown, in place.
 */
import { createSignal, Match, onCleanup, Show, Switch } from "solid-js";
import type { FileEntry } from "../../../shared/files.js";
import { checkNewName, displayPath, isInside, joinPath, parentOf } from "../../../shared/paths.js";
import { useConnectionState } from "../stores/connection-store.js";
import { Breadcrumb } from "./breadcrumb.js";
import { ContextMenu, type MenuItem } from "./context-menu.js";
import { ConfirmDialog, ConflictDialog, TextDialog } from "./dialogs.js";
import { dragHasFiles, pickedFromDataTransfer, pickedFromFiles } from "./drop.js";
import { FileList } from "./file-list.js";
import { type FilesSession, useFiles } from "./files-store.js";
import { FolderPickerDialog } from "./folder-picker.js";
import { reasonOf } from "./format.js";
import {
  CloseIcon,
  DownloadIcon,
  HomeIcon,
  NewFileIcon,
  NewFolderIcon,
  RefreshIcon,
  UpIcon,
  UploadFolderIcon,
  UploadIcon,
  WarnIcon,
} from "./icons.js";
import { urlOf } from "./route.js";
import { UploadsPanel } from "./uploads-panel.js";
import "./files.css";

export function FilesPane() {
  const files = useFiles();
  return (
    <Show
      when={files.session()}
      fallback={
        <div class="files-waiting" data-testid="files-waiting">
          <Show when={files.problem()} fallback={<p class="loading">Loading files…</p>}>
            {(p) => (
              <p class="banner banner-warn" role="status">
                Files are not available yet: {p().message} (retrying)
              </p>
            )}
          </Show>
        </div>
      }
    >
      {(s) => <Explorer session={s()} />}
    </Show>
  );
}

type Dialog =
  | { kind: "new-file" }
  | { kind: "new-folder" }
  | { kind: "move"; names: string[] }
  | { kind: "copy"; names: string[] }
  | { kind: "delete"; names: string[] };

function nameProblem(name: string): string | undefined {
  try {
    checkNewName(name);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function Explorer(props: { session: FilesSession }) {
  const s = props.session;
  const ex = s.explorer;
  const readOnly = useConnectionState().readOnly;
  const [dialog, setDialog] = createSignal<Dialog>();
  const [renaming, setRenaming] = createSignal<string>();
  const [dragging, setDragging] = createSignal(false);
  const [dropTarget, setDropTarget] = createSignal<string>();
  const [menu, setMenu] = createSignal<{
    x: number;
    y: number;
    label: string;
    items: MenuItem[];
  }>();
  const [notice, setNotice] = createSignal<string>();
  /** The names of the entries being dragged (to move them), while a drag of this page lasts. */
  const [moving, setMoving] = createSignal<readonly string[]>();
  let fileInput!: HTMLInputElement;
  let folderInput!: HTMLInputElement;

  const dir = () => ex.dir() ?? s.home;
  const show = (p: string) => displayPath(p, s.home);
  const selected = () => [...ex.selection()];
  const go = (path: string) => void s.openPath(path);

  /** The address of an entry: a folder opens in Files, a file in the editor. */
  const linkOf = (entry: FileEntry) => {
    const folder = entry.type === "dir" || entry.link?.type === "dir";
    return urlOf(joinPath(dir(), entry.name), s.home, folder ? "#files" : "#editor");
  };
  let noticeTimer: ReturnType<typeof setTimeout> | undefined;
  const say = (text: string) => {
    setNotice(text);
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => setNotice(undefined), 5000);
  };
  onCleanup(() => clearTimeout(noticeTimer));

  const download = (names: readonly string[]) =>
    void ex.report(async () => {
      for (const name of names) await s.download(joinPath(dir(), name));
    });

  function onKey(e: KeyboardEvent) {
    const names = selected();
    if (e.key === "Delete" && names.length > 0) setDialog({ kind: "delete", names });
    else if (e.key === "F2" && names.length === 1) setRenaming(names[0]);
    else if (e.key === "Enter" && names.length === 1) {
      const entry = findEntry(names[0]!);
      if (entry) void s.openEntry(entry);
    } else if ((e.ctrlKey || e.metaKey) && e.key === "a") {
      e.preventDefault();
      ex.selectAll();
    } else if (e.key === "Escape") ex.clearSelection();
    else if (e.key === "Backspace" || (e.altKey && e.key === "ArrowUp")) {
      if (dir() !== "/") go(parentOf(dir()));
    } else return;
    e.preventDefault();
  }

  function findEntry(name: string): FileEntry | undefined {
    for (let i = 0; i < ex.total(); i++) {
      const r = ex.rowAt(i);
      if (r?.name === name) return r;
    }
    return undefined;
  }

  /** The entries a right-click or a drag of `entry` is about: the selection, if it is in it. */
  const namesFor = (entry: FileEntry): string[] => {
    if (ex.selection().has(entry.name)) return selected();
    ex.select(entry.name);
    return [entry.name];
  };

  function menuItems(entry: FileEntry): MenuItem[] {
    const names = namesFor(entry);
    const one = names.length === 1;
    const paths = names.map((n) => joinPath(dir(), n));
    const items: MenuItem[] = [];
    const write = !readOnly();
    if (one) {
      items.push(
        { label: "Open", action: "open", run: () => void s.openEntry(entry) },
        {
          label: "Open in a new browser tab",
          action: "open-tab",
          run: () => window.open(linkOf(entry), "_blank", "noopener"),
        },
      );
      if (write)
        items.push({
          label: "Rename",
          action: "rename",
          hint: "F2",
          run: () => setRenaming(entry.name),
        });
    }
    if (write) {
      items.push(
        {
          label: "Duplicate",
          action: "duplicate",
          separated: one,
          run: () => void ex.copy(names, dir()),
        },
        { label: "Move to…", action: "move", run: () => setDialog({ kind: "move", names }) },
        { label: "Copy to…", action: "copy", run: () => setDialog({ kind: "copy", names }) },
      );
    }
    items.push(
      {
        label: one ? "Copy path" : `Copy ${names.length} paths`,
        action: "copy-path",
        separated: true,
        run: () =>
          void ex.report(async () => {
            await navigator.clipboard.writeText(paths.join("\n"));
            say(one ? `Copied ${paths[0]}` : `Copied ${names.length} paths`);
          }),
      },
      { label: "Download", action: "download", run: () => download(names) },
    );
    if (write) {
      items.push({
        label: "Delete",
        action: "delete",
        hint: "Del",
        danger: true,
        separated: true,
        run: () => setDialog({ kind: "delete", names }),
      });
    }
    return items;
  }

  // Dragging entries: onto a folder row or a step of the path moves them there.
  const onDragRow = (entry: FileEntry, e: DragEvent) => {
    // Not selected here: the selection bar would appear and shift the rows under the drag.
    const names = ex.selection().has(entry.name) ? selected() : [entry.name];
    setMoving(names);
    if (!e.dataTransfer) return;
    e.dataTransfer.effectAllowed = "all";
    // Dropped elsewhere (another tab, a chat), the links and paths go along.
    const links = names.map((n) => new URL(linkOf({ ...entry, name: n }), location.href).href);
    e.dataTransfer.setData("text/uri-list", links.join("\r\n"));
    e.dataTransfer.setData("text/plain", names.map((n) => joinPath(dir(), n)).join("\n"));
  };
  const moveInto = (target: string) => {
    const names = moving();
    setMoving(undefined);
    setDropTarget(undefined);
    if (!names || target === dir()) return;
    void ex.move(names, target).then((ok) => {
      if (ok)
        say(`Moved ${names.length === 1 ? names[0] : `${names.length} items`} to ${show(target)}`);
    });
  };

  // Drag and drop: onto the explorer uploads here, onto a folder row uploads into it.
  let depth = 0;
  const rowUnder = (e: DragEvent) =>
    (e.target as HTMLElement | null)?.closest<HTMLElement>('.file-row[data-dir="true"]')?.dataset
      .name;
  /** The folder row under a drag of entries, unless it is one of them. */
  const moveTargetUnder = (e: DragEvent) => {
    const name = rowUnder(e);
    return name !== undefined && !moving()!.includes(name) ? name : undefined;
  };
  const onDragEnter = (e: DragEvent) => {
    if (moving()) return;
    if (!dragHasFiles(e.dataTransfer)) return;
    e.preventDefault();
    depth++;
    setDragging(true);
  };
  const onDragOver = (e: DragEvent) => {
    if (moving()) {
      const into = moveTargetUnder(e);
      setDropTarget(into);
      if (into === undefined) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "move";
      return;
    }
    if (!dragHasFiles(e.dataTransfer)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    setDropTarget(rowUnder(e));
  };
  const onDragLeave = () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) {
      setDragging(false);
      setDropTarget(undefined);
    }
  };
  const onDrop = (e: DragEvent) => {
    if (moving()) {
      const into = moveTargetUnder(e);
      if (into === undefined) return;
      e.preventDefault();
      moveInto(joinPath(dir(), into));
      return;
    }
    if (readOnly() || !e.dataTransfer || !dragHasFiles(e.dataTransfer)) return;
    e.preventDefault();
    const into = rowUnder(e);
    const target = into ? joinPath(dir(), into) : dir();
    depth = 0;
    setDragging(false);
    setDropTarget(undefined);
    // The items must be taken now, during the event.
    void pickedFromDataTransfer(e.dataTransfer).then((picked) => s.uploads.upload(target, picked));
  };
  // A file dropped next to the explorer must not make the browser navigate away from the page.
  const guard = (e: DragEvent) => {
    if (dragHasFiles(e.dataTransfer)) e.preventDefault();
  };
  window.addEventListener("dragover", guard);
  window.addEventListener("drop", guard);
  onCleanup(() => {
    window.removeEventListener("dragover", guard);
    window.removeEventListener("drop", guard);
  });

  const uploadFromInput = (input: HTMLInputElement) => {
    const list = Array.from(input.files ?? []);
    input.value = "";
    if (list.length > 0) void s.uploads.upload(dir(), pickedFromFiles(list));
  };

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: the drop zone; keyboards have the Upload buttons
    <div
      class="files-pane"
      data-testid="explorer"
      data-dir={ex.dir()}
      data-phase={ex.phase()}
      onDragEnter={onDragEnter}
      onDragOver={onDragOver}
      onDragLeave={onDragLeave}
      onDrop={onDrop}
    >
      <div class="files-toolbar">
        <button
          type="button"
          class="icon-button"
          title="Up to the parent folder"
          aria-label="Up"
          data-testid="go-up"
          disabled={dir() === "/"}
          onClick={() => go(parentOf(dir()))}
        >
          <UpIcon />
        </button>
        <Show when={!isInside(dir(), s.home)}>
          <button
            type="button"
            class="icon-button"
            title={`Home (${show(s.home)})`}
            aria-label="Home"
            data-testid="go-home"
            onClick={() => go(s.home)}
          >
            <HomeIcon />
          </button>
        </Show>
        <Breadcrumb
          dir={dir()}
          home={s.home}
          onNavigate={go}
          moving={() => moving() !== undefined}
          onDropInto={moveInto}
        />
        <div class="files-actions">
          <input
            class="files-filter"
            type="search"
            placeholder="Filter"
            aria-label="Filter by name"
            data-testid="filter"
            value={ex.filter()}
            onInput={(e) => ex.setFilter(e.currentTarget.value)}
          />
          <label class="files-hidden" title="Show hidden files (names starting with a dot)">
            <input
              type="checkbox"
              data-testid="show-hidden"
              checked={ex.prefs().hidden}
              onChange={(e) => ex.setHidden(e.currentTarget.checked)}
            />
            <span>Hidden</span>
          </label>
          {/* A viewer looks: nothing to make or upload (its requests would be refused). */}
          <Show when={!readOnly()}>
            <button
              type="button"
              class="icon-button"
              data-testid="new-file"
              title="New file"
              onClick={() => setDialog({ kind: "new-file" })}
            >
              <NewFileIcon />
              <span class="icon-button-label">New file</span>
            </button>
            <button
              type="button"
              class="icon-button"
              data-testid="new-folder"
              title="New folder"
              onClick={() => setDialog({ kind: "new-folder" })}
            >
              <NewFolderIcon />
              <span class="icon-button-label">New folder</span>
            </button>
            <button
              type="button"
              class="icon-button"
              data-testid="upload-files"
              title="Upload files (or drop them here)"
              onClick={() => fileInput.click()}
            >
              <UploadIcon />
              <span class="icon-button-label">Upload</span>
            </button>
            <button
              type="button"
              class="icon-button"
              data-testid="upload-folder"
              title="Upload a folder"
              onClick={() => folderInput.click()}
            >
              <UploadFolderIcon />
              <span class="icon-button-label">Upload folder</span>
            </button>
          </Show>
          <button
            type="button"
            class="icon-button"
            data-testid="refresh"
            title="Refresh"
            aria-label="Refresh"
            onClick={() => void ex.refresh()}
          >
            <RefreshIcon />
          </button>
          <input
            ref={fileInput}
            type="file"
            multiple
            hidden
            data-testid="upload-input"
            onChange={(e) => uploadFromInput(e.currentTarget)}
          />
          <input
            ref={(el) => {
              folderInput = el;
              el.setAttribute("webkitdirectory", "");
            }}
            type="file"
            multiple
            hidden
            data-testid="upload-folder-input"
            onChange={(e) => uploadFromInput(e.currentTarget)}
          />
        </div>
      </div>

      <Show when={ex.selection().size > 0}>
        <div class="selection-bar" data-testid="selection-bar">
          <span class="selection-count">{ex.selection().size} selected</span>
          <button
            type="button"
            class="icon-button"
            data-testid="action-download"
            onClick={() => download(selected())}
          >
            <DownloadIcon />
            Download
          </button>
          <Show when={!readOnly()}>
            <Show when={ex.selection().size === 1}>
              <button
                type="button"
                class="icon-button"
                data-testid="action-rename"
                onClick={() => setRenaming(selected()[0])}
              >
                Rename
              </button>
            </Show>
            <button
              type="button"
              class="icon-button"
              data-testid="action-move"
              onClick={() => setDialog({ kind: "move", names: selected() })}
            >
              Move…
            </button>
            <button
              type="button"
              class="icon-button"
              data-testid="action-copy"
              onClick={() => setDialog({ kind: "copy", names: selected() })}
            >
              Copy…
            </button>
            <button
              type="button"
              class="icon-button danger"
              data-testid="action-delete"
              onClick={() => setDialog({ kind: "delete", names: selected() })}
            >
              Delete
            </button>
          </Show>
          <button
            type="button"
            class="icon-button"
            title="Clear the selection"
            aria-label="Clear the selection"
            onClick={() => ex.clearSelection()}
          >
            <CloseIcon />
          </button>
        </div>
      </Show>

      <Show when={ex.actionError()}>
        {(err) => (
          <div
            class="files-notice files-notice-error"
            role="alert"
            data-testid="action-error"
            data-code={err().code}
          >
            <WarnIcon />
            <span>{err().message}</span>
            <button
              type="button"
              class="icon-button"
              aria-label="Dismiss"
              onClick={() => ex.clearActionError()}
            >
              <CloseIcon />
            </button>
          </div>
        )}
      </Show>
      <Show when={ex.busy()}>
        <div class="files-notice" role="status">
          {ex.busy()}
        </div>
      </Show>
      <Show when={notice()}>
        <div class="files-notice" role="status" data-testid="files-notice">
          {notice()}
        </div>
      </Show>
      <Show when={ex.watchProblem()}>
        <div class="files-notice muted" role="status" data-testid="watch-problem">
          Live updates are off here: {ex.watchProblem()}
        </div>
      </Show>

      <div class="files-body">
        <Switch>
          <Match when={ex.phase() === "error"}>
            <div
              class="files-error"
              role="alert"
              data-testid="dir-error"
              data-code={ex.error()?.code}
            >
              <WarnIcon size={28} />
              <h2>Cannot open {show(dir())}</h2>
              <p>{reasonOf(ex.error()?.message ?? "")}</p>
              <div class="files-error-actions">
                <button type="button" class="button" onClick={() => void ex.refresh()}>
                  Try again
                </button>
                <Show when={dir() !== "/"}>
                  <button type="button" class="button" onClick={() => go(parentOf(dir()))}>
                    Open the parent folder
                  </button>
                </Show>
                <button type="button" class="button" onClick={() => go(s.home)}>
                  Go home
                </button>
              </div>
            </div>
          </Match>
          <Match when={ex.phase() === "loading" && ex.total() === 0}>
            <p class="loading" data-testid="dir-loading">
              Loading {show(dir())}…
            </p>
          </Match>
          <Match when={true}>
            <FileList
              explorer={ex}
              renaming={renaming()}
              dropTarget={dropTarget()}
              onOpen={(entry) => void s.openEntry(entry)}
              onKey={onKey}
              linkOf={linkOf}
              // The items are made once, as the menu opens (it selects the entry).
              onMenu={(entry, x, y) =>
                setMenu({ x, y, label: `Actions on ${entry.name}`, items: menuItems(entry) })
              }
              draggable={!readOnly()}
              onDragRow={onDragRow}
              onDragEnd={() => {
                setMoving(undefined);
                setDropTarget(undefined);
              }}
              onRenameDone={(from, to) => {
                setRenaming(undefined);
                // The fs service checks the name and says what is wrong with it.
                if (to !== undefined && to !== from) void ex.rename(from, to);
              }}
            />
          </Match>
        </Switch>
        <Show when={dragging()}>
          <div class="drop-overlay" data-testid="drop-overlay">
            <UploadIcon size={28} />
            <p>
              Drop to upload into{" "}
              <strong>{show(dropTarget() ? joinPath(dir(), dropTarget()!) : dir())}</strong>
            </p>
          </div>
        </Show>
      </div>

      <UploadsPanel uploads={s.uploads} display={show} />

      <Show when={s.uploads.question()}>
        {(q) => (
          <ConflictDialog
            name={q().name}
            folder={q().folder}
            where={show(q().dir)}
            remaining={q().remaining}
            answer={(c, all) => q().answer(c, all)}
          />
        )}
      </Show>
      <Show when={menu()} keyed>
        {(m) => (
          <ContextMenu
            x={m.x}
            y={m.y}
            label={m.label}
            items={m.items}
            onClose={() => setMenu(undefined)}
          />
        )}
      </Show>
      <Show when={dialog()} keyed>
        {(d) => <ExplorerDialog dialog={d} session={s} close={() => setDialog(undefined)} />}
      </Show>
    </div>
  );
}

function ExplorerDialog(props: { dialog: Dialog; session: FilesSession; close: () => void }) {
  const s = props.session;
  const ex = s.explorer;
  const here = () => displayPath(ex.dir() ?? s.home, s.home);
  const d = props.dialog;
  const failed = () => ex.actionError()?.message ?? "it did not work";
  switch (d.kind) {
    case "new-file":
      return (
        <TextDialog
          title="New file"
          label={`Name of the new file in ${here()}`}
          initial=""
          action="Create"
          testid="new-file-dialog"
          onClose={props.close}
          submit={async (name) => {
            const problem = nameProblem(name);
            if (problem) return problem;
            const path = await ex.createFile(name);
            if (!path) return failed();
            ex.clearActionError();
            ex.select(name);
            // A new file is made to be written: it opens in the editor.
            void s.openPath(path);
            return undefined;
          }}
        />
      );
    case "new-folder":
      return (
        <TextDialog
          title="New folder"
          label={`Name of the new folder in ${here()}`}
          initial=""
          action="Create"
          testid="new-folder-dialog"
          onClose={props.close}
          submit={async (name) => {
            const problem = nameProblem(name);
            if (problem) return problem;
            if (!(await ex.createFolder(name))) return failed();
            ex.clearActionError();
            return undefined;
          }}
        />
      );
    case "move":
    case "copy":
      return (
        <FolderPickerDialog
          title={`${d.kind === "move" ? "Move" : "Copy"} ${d.names.length === 1 ? `“${d.names[0]}”` : `${d.names.length} items`}`}
          action={d.kind === "move" ? "Move" : "Copy"}
          testid={`${d.kind}-dialog`}
          picker={s.folderPicker(ex.dir() ?? s.home)}
          home={s.home}
          onClose={props.close}
          submit={async (dest) => {
            const ok =
              d.kind === "move" ? await ex.move(d.names, dest) : await ex.copy(d.names, dest);
            if (!ok) return failed();
            ex.clearActionError();
            return undefined;
          }}
        />
      );
    case "delete":
      return (
        <ConfirmDialog
          title={`Delete ${d.names.length === 1 ? `“${d.names[0]}”` : `${d.names.length} items`}? This cannot be undone.`}
          items={d.names}
          action="Delete"
          danger
          testid="delete-dialog"
          onClose={props.close}
          confirm={() => void ex.remove(d.names)}
        />
      );
    default: {
      const never: never = d;
      return never;
    }
  }
}
