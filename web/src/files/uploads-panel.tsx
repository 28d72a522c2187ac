/**
 * Every upload with its own progress bar and cancel button. A dropped folder can hold many
 * thousands of files, so only the rows in view are rendered.
 */
import { createVirtualizer } from "@tanstack/solid-virtual";
import { createMemo, For, Show } from "solid-js";
import { formatSize, visibleName } from "./format.js";
import { CloseIcon } from "./icons.js";
import type { UploadItem, UploadsStore } from "./uploads-store.js";

const UPLOAD_ROW_HEIGHT = 37;

const STATUS: Record<UploadItem["status"], string> = {
  queued: "waiting",
  uploading: "",
  done: "done",
  error: "failed",
  cancelled: "cancelled",
};

type PanelProps = { uploads: UploadsStore; display: (path: string) => string };

export function UploadsPanel(props: PanelProps) {
  return (
    <Show when={props.uploads.items.length > 0}>
      <Uploads {...props} />
    </Show>
  );
}

/** Mounted with its scroll container, so the virtualizer finds it at once. */
function Uploads(props: PanelProps) {
  const items = () => props.uploads.items;
  const active = createMemo(() =>
    items().filter((u) => u.status === "queued" || u.status === "uploading"),
  );
  const finished = () => items().length - active().length;
  const failed = createMemo(() => items().filter((u) => u.status === "error").length);
  const done = createMemo(() => items().filter((u) => u.status === "done").length);
  let scroller: HTMLElement | undefined;
  const virtualizer = createVirtualizer({
    get count() {
      return items().length;
    },
    getScrollElement: () => scroller ?? null,
    // One line and a bar; a row with an error is taller and measured.
    estimateSize: () => UPLOAD_ROW_HEIGHT,
    overscan: 8,
  });
  return (
    <section
      class="uploads"
      aria-label="Uploads"
      data-testid="uploads"
      ref={(el) => {
        scroller = el;
      }}
    >
      <header class="uploads-header">
        {/* Counts up as uploads finish: "12 of 400 uploaded…". */}
        <span data-testid="uploads-count" data-done={done()}>
          {active().length > 0 ? `${done()} of ${items().length} uploaded…` : `${done()} uploaded`}
          {failed() > 0 ? `, ${failed()} failed` : ""}
        </span>
        <Show when={finished() > 0}>
          <button type="button" class="icon-button" onClick={() => props.uploads.clearFinished()}>
            Clear finished
          </button>
        </Show>
      </header>
      <ul class="uploads-list" style={{ height: `${virtualizer.getTotalSize()}px` }}>
        <For each={virtualizer.getVirtualItems()}>
          {(row) => {
            const u = items()[row.index]!;
            const pct = () =>
              u.size === 0
                ? u.status === "done"
                  ? 100
                  : 0
                : Math.round((100 * u.loaded) / u.size);
            return (
              <li
                class="upload"
                ref={(el) => queueMicrotask(() => virtualizer.measureElement(el))}
                data-index={row.index}
                style={{ transform: `translateY(${row.start}px)` }}
                data-testid="upload-item"
                data-status={u.status}
                data-name={u.path}
              >
                <div class="upload-line">
                  <span
                    class="upload-name"
                    title={`${props.display(u.dir)}/${visibleName(u.path)}`}
                  >
                    {visibleName(u.path)}
                  </span>
                  <span class="upload-size muted">
                    {u.status === "uploading"
                      ? `${formatSize(u.loaded)} of ${formatSize(u.size)}`
                      : STATUS[u.status] || formatSize(u.size)}
                  </span>
                  <Show when={u.status === "queued" || u.status === "uploading"}>
                    <button
                      type="button"
                      class="icon-button upload-cancel"
                      title="Cancel this upload"
                      aria-label={`Cancel upload of ${u.path}`}
                      data-testid="upload-cancel"
                      onClick={() => props.uploads.cancel(u.id)}
                    >
                      <CloseIcon size={12} />
                    </button>
                  </Show>
                </div>
                <div
                  class="progress"
                  role="progressbar"
                  aria-valuemin={0}
                  aria-valuemax={100}
                  aria-valuenow={pct()}
                  data-testid="upload-progress"
                >
                  <div class="progress-bar" style={{ width: `${pct()}%` }} />
                </div>
                <Show when={u.error}>
                  <p
                    class="upload-error"
                    role="alert"
                    data-testid="upload-error"
                    data-code={u.code}
                  >
                    {u.error}
                  </p>
                </Show>
              </li>
            );
          }}
        </For>
      </ul>
    </section>
  );
}
