/** The room's threads, in a virtual list; its archived ones on request, in the same list. */

import { createVirtualizer } from "@tanstack/solid-virtual";
import { createMemo, createSignal, For, Show } from "solid-js";
import { ClockIcon } from "../components/icons.js";
import { useFiles } from "../files/files-store.js";
import { useConnectionState } from "../stores/connection-store.js";
import { useAgents } from "./agents-store.js";
import { formatRun } from "./schedule-form.js";

/** 14:30 today, else "8 Dec": the row has room for little. */
function shortTime(iso: string): string {
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today
    ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString(undefined, { day: "numeric", month: "short" });
}

/** A thread row's height (one line; fixed in agents.css, so rows need no measuring). */
const THREAD_ROW_HEIGHT = 34;

/** A room can hold thousands of threads: only the rows in view are rendered. */
export function ThreadList() {
  const agents = useAgents();
  const files = useFiles();
  const readOnly = useConnectionState().readOnly;
  const [showArchived, setShowArchived] = createSignal(false);
  const listed = () => (showArchived() ? agents.archived() : agents.threads());
  const create = () => {
    setShowArchived(false);
    void agents.createThread(`Thread ${agents.threads().length + 1}`, files.session()?.home ?? "/");
  };
  let scroller: HTMLDivElement | undefined;
  const virtualizer = createVirtualizer({
    get count() {
      return listed().length;
    },
    getScrollElement: () => scroller ?? null,
    estimateSize: () => THREAD_ROW_HEIGHT,
    overscan: 10,
  });
  const items = () => virtualizer.getVirtualItems();
  const rows = createMemo(() =>
    items().flatMap((v) => {
      const t = listed()[v.index];
      return t ? [t] : [];
    }),
  );
  return (
    <aside class="agents-threads" aria-label="Threads">
      <div class="agents-room" title={agents.roomPath()}>
        {agents.roomPath()?.split("/").pop()}
      </div>
      {/* A viewer follows the threads; making one is a change its login is refused. */}
      <Show when={!readOnly()}>
        <button
          type="button"
          class="button agents-new-thread"
          data-testid="new-thread"
          onClick={create}
        >
          New thread
        </button>
      </Show>
      <div
        class="agents-thread-scroll"
        data-testid="thread-list"
        data-count={listed().length}
        data-archived={showArchived() ? "yes" : "no"}
        ref={(el) => {
          scroller = el;
        }}
      >
        <ul style={{ height: `${virtualizer.getTotalSize()}px` }}>
          {/* Rows are keyed by thread, so scrolling moves them instead of rebuilding them. */}
          <For each={rows()}>
            {(t, i) => (
              <li style={{ transform: `translateY(${items()[i()]?.start ?? 0}px)` }}>
                <button
                  type="button"
                  class="agents-thread"
                  classList={{ selected: agents.selected()?.thread === t.thread }}
                  data-testid="thread"
                  data-thread={t.thread}
                  title={t.title}
                  onClick={() => agents.select(t.thread)}
                >
                  <span class="agents-dot" data-busy={t.running ? "yes" : "no"} />
                  <span class="agents-thread-title">{t.title}</span>
                  <Show when={t.queue.length > 0}>
                    <span class="agents-queue">+{t.queue.length}</span>
                  </Show>
                  <Show when={t.schedule?.next}>
                    {(next) => (
                      <span
                        class="agents-next-run"
                        data-testid="thread-next-run"
                        title={`Next scheduled run: ${formatRun(next(), t.schedule!.schedule.timeZone)}`}
                      >
                        <ClockIcon size={12} /> {shortTime(next())}
                      </span>
                    )}
                  </Show>
                </button>
              </li>
            )}
          </For>
        </ul>
      </div>
      <Show when={showArchived() || agents.archived().length > 0}>
        <button
          type="button"
          class="link-button agents-archived-toggle"
          data-testid="archived-toggle"
          aria-pressed={showArchived()}
          onClick={() => setShowArchived(!showArchived())}
        >
          {showArchived() ? "← Threads" : `Archived (${agents.archived().length})`}
        </button>
      </Show>
    </aside>
  );
}
