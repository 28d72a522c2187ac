/** The prompt box of a thread: markdown, pasted or dropped images; Ctrl+Enter sends. */
import { createEffect, createMemo, createSignal, For, Show } from "solid-js";
import { useConnectionState } from "../stores/connection-store.js";
import { useAgents } from "./agents-store.js";

export function Composer(props: { onSent: () => void }) {
  const readOnly = useConnectionState().readOnly;
  const agents = useAgents();
  const [text, setText] = createSignal("");
  const [images, setImages] = createSignal<string[]>([]);
  const [busy, setBusy] = createSignal(false);
  const [note, setNote] = createSignal<string>();
  let input: HTMLTextAreaElement | undefined;
  // A sent prompt put back to edit: it replaces what the box held.
  createEffect(() => {
    const d = agents.draft();
    if (!d) return;
    setText(d.text);
    setImages(d.images);
    agents.setDraft(undefined);
    input?.focus();
  });

  const addFiles = async (files: File[]) => {
    for (const f of files.filter((f) => f.type.startsWith("image/"))) {
      const ext = f.type.split("/")[1]?.replace("jpeg", "jpg") ?? "png";
      const name = `paste-${Date.now().toString(36)}.${ext}`;
      try {
        setNote(`saving ${name}…`);
        const path = await agents.saveImage(f, name);
        setImages([...images(), path]);
        setNote(undefined);
      } catch (err) {
        setNote(err instanceof Error ? err.message : String(err));
      }
    }
  };
  /** The agent's slash commands the word being typed ("/re") could be. */
  const commands = createMemo(() => {
    const m = /^\/(\S*)$/.exec(text());
    if (!m) return [];
    const typed = m[1]!.toLowerCase();
    return (agents.selected()?.session?.commands ?? [])
      .filter((c) => c.name.toLowerCase().startsWith(typed))
      .slice(0, 8);
  });
  const complete = (name: string) => {
    setText(`/${name} `);
    input?.focus();
  };
  const send = async (now = false) => {
    if (busy() || (text().trim() === "" && images().length === 0)) return;
    setBusy(true);
    const reply = await agents.submit(text(), images(), now);
    setBusy(false);
    if (reply.ok) {
      setText("");
      setImages([]);
      props.onSent();
    }
  };
  return (
    <form
      class="composer"
      data-testid="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        void addFiles([...(e.dataTransfer?.files ?? [])]);
      }}
    >
      <Show when={images().length > 0}>
        <div class="composer-images">
          <For each={images()}>
            {(p) => (
              <span class="badge">
                {p.split("/").pop()}
                <button
                  type="button"
                  class="link-button"
                  aria-label="Remove image"
                  onClick={() => setImages(images().filter((x) => x !== p))}
                >
                  ×
                </button>
              </span>
            )}
          </For>
        </div>
      </Show>
      <Show when={commands().length > 0}>
        <ul
          class="composer-commands"
          data-testid="slash-commands"
          aria-label="The agent's commands"
        >
          <For each={commands()}>
            {(c) => (
              <li>
                <button type="button" class="link-button" onClick={() => complete(c.name)}>
                  <code>/{c.name}</code>
                </button>{" "}
                <span class="muted">
                  {c.description}
                  {c.hint ? ` (${c.hint})` : ""}
                </span>
              </li>
            )}
          </For>
        </ul>
      </Show>
      <textarea
        ref={input}
        data-testid="composer-input"
        disabled={readOnly()}
        placeholder={
          readOnly()
            ? "A viewer follows the turns; only members who may change the workspace ask the agent."
            : "Ask the agent (markdown; paste or drop images). Ctrl+Enter sends."
        }
        value={text()}
        onInput={(e) => setText(e.currentTarget.value)}
        onPaste={(e) => {
          const files = [...(e.clipboardData?.files ?? [])];
          if (files.length > 0) {
            e.preventDefault();
            void addFiles(files);
          }
        }}
        onKeyDown={(e) => {
          const first = commands()[0];
          if (e.key === "Tab" && first) {
            e.preventDefault();
            complete(first.name);
            return;
          }
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            void send();
          }
        }}
      />
      <div class="composer-actions">
        <span class="muted">{note()}</span>
        <Show when={agents.selected()?.running}>
          <button
            type="button"
            class="button"
            data-testid="submit-now"
            title="Stops the running turn and runs this prompt at once (before any queued ones)"
            disabled={busy() || readOnly()}
            onClick={() => void send(true)}
          >
            Send now
          </button>
        </Show>
        <button
          type="submit"
          class="button primary"
          data-testid="submit"
          disabled={busy() || readOnly()}
          title={agents.selected()?.running ? "Queued: runs when the running turn ends" : undefined}
        >
          {agents.selected()?.running ? "Queue" : "Send"}
        </button>
      </div>
    </form>
  );
}
