/**
 * The selected thread's own actions in its header: rename it, archive it (out of the room's
 * list, kept under "Archived") or take it back, delete it. Deleting asks first and says what
 * goes: the thread, its turns and their logs; a thread whose turn runs or waits is refused
 * by the service (stop it first), and the page shows why.
 */
import { createSignal, Show } from "solid-js";
import { useAgents } from "./agents-store.js";

export function ThreadActions() {
  const agents = useAgents();
  const thread = () => agents.selected()!;
  const [renaming, setRenaming] = createSignal(false);
  const [title, setTitle] = createSignal("");
  const [confirming, setConfirming] = createSignal(false);
  const rename = async () => {
    const t = title().trim();
    if (t === "" || t === thread().title) return void setRenaming(false);
    if ((await agents.changeSettings({}, t)).ok) setRenaming(false);
  };
  return (
    <>
      <Show
        when={renaming()}
        fallback={
          <button
            type="button"
            class="button"
            data-testid="thread-rename"
            onClick={() => {
              setTitle(thread().title);
              setRenaming(true);
            }}
          >
            Rename
          </button>
        }
      >
        <form
          class="agents-rename"
          onSubmit={(e) => {
            e.preventDefault();
            void rename();
          }}
        >
          <input
            type="text"
            maxLength={200}
            value={title()}
            onInput={(e) => setTitle(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Escape") setRenaming(false);
            }}
            aria-label="Thread title"
            data-testid="thread-rename-input"
            ref={(el) => queueMicrotask(() => el.select())}
          />
          <button type="submit" class="button primary" data-testid="thread-rename-save">
            Save
          </button>
        </form>
      </Show>
      <button
        type="button"
        class="button"
        data-testid="thread-archive"
        onClick={() => void agents.archive(!thread().archived)}
      >
        {thread().archived ? "Unarchive" : "Archive"}
      </button>
      <Show
        when={confirming()}
        fallback={
          <button
            type="button"
            class="button"
            data-testid="thread-delete"
            onClick={() => setConfirming(true)}
          >
            Delete
          </button>
        }
      >
        <span class="agents-confirm" role="alertdialog" data-testid="thread-delete-confirm">
          Delete “{thread().title}”, its {thread().turnCount} turn
          {thread().turnCount === 1 ? "" : "s"} and their logs?
          <button
            type="button"
            class="button button-danger"
            data-testid="thread-delete-yes"
            onClick={() => {
              setConfirming(false);
              void agents.remove();
            }}
          >
            Delete
          </button>
          <button type="button" class="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </span>
      </Show>
    </>
  );
}
