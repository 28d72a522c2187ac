/** The Agents tab before a room is open: create a chat room (a .chat file in the home folder). */
import { createSignal, Show } from "solid-js";
import { joinPath } from "../../../shared/paths.js";
import { EmptyState } from "../components/empty-state.js";
import { AgentIcon } from "../components/icons.js";
import { useFiles } from "../files/files-store.js";
import { useConnectionState } from "../stores/connection-store.js";
import { useAgents } from "./agents-store.js";

export function NewRoom() {
  const agents = useAgents();
  const files = useFiles();
  const readOnly = useConnectionState().readOnly;
  const [name, setName] = createSignal("agents");
  const [error, setError] = createSignal<string>();
  const create = async (e: Event) => {
    e.preventDefault();
    const session = files.session();
    if (!session) return setError("the file service is not ready yet");
    const path = joinPath(session.home, `${name().trim() || "agents"}.chat`);
    try {
      const file = `${name().trim() || "agents"}.chat`;
      const { existing } = await session.fs.call({
        op: "exists",
        dir: session.home,
        names: [file],
      });
      if (!existing.includes(file)) {
        await session.fs.call({
          op: "write",
          path,
          content: `${JSON.stringify({ type: "cocalc-chat", v: 1 })}\n`,
          encoding: "utf8",
          exclusive: true,
        });
      }
      agents.openRoom(path);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <div class="agents-empty">
      <EmptyState
        icon={<AgentIcon size={28} />}
        title="No chat room open"
        detail={
          readOnly()
            ? "Open a .chat file in Files to follow its threads."
            : "Open a .chat file in Files, or create a chat room."
        }
      />
      <Show when={!readOnly()}>
        <form class="agents-new-room" onSubmit={create}>
          <input
            aria-label="Chat room name"
            data-testid="room-name"
            value={name()}
            onInput={(e) => setName(e.currentTarget.value)}
          />
          <button type="submit" class="button" data-testid="create-room">
            Create chat room
          </button>
        </form>
      </Show>
      <Show when={error()}>
        <p class="agents-error">{error()}</p>
      </Show>
    </div>
  );
}
