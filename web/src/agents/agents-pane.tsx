/**
 * The Agents tab: the open chat room's threads on the left; the selected thread's turns
 * (the latest ones, "load older" for more), its settings and the composer on the right.
 * Each visible turn replays its own log; a turn scrolled out of the page lets it go.
 */
import { Show } from "solid-js";
import { EmptyState } from "../components/empty-state.js";
import { AgentIcon } from "../components/icons.js";
import { useAgents } from "./agents-store.js";
import { NewRoom } from "./new-room.js";
import { ThreadList } from "./thread-list.js";
import { ThreadPane } from "./thread-pane.js";
import "./agents.css";

export function AgentsPane() {
  const agents = useAgents();
  return (
    <div class="agents" data-testid="agents">
      <Show when={agents.roomPath()} fallback={<NewRoom />}>
        <ThreadList />
        <Show
          when={agents.selected()}
          fallback={
            <div class="agents-main">
              <EmptyState
                icon={<AgentIcon size={28} />}
                title="No agent threads"
                detail="Start a thread to ask an agent to work in this workspace."
              />
            </div>
          }
        >
          <ThreadPane />
        </Show>
      </Show>
    </div>
  );
}
