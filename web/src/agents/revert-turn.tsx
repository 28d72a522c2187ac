import { createSignal, Show } from "solid-js";
import type { TurnView } from "../../../shared/agents.js";
import { useAgents } from "./agents-store.js";

/**
 * "Revert this turn": every file the turn wrote goes back as it was. When a file changed
 * since, nothing is reverted and the user is asked to confirm.
 */
export function RevertTurn(props: { turn: TurnView; files: string[] }) {
  const agents = useAgents();
  const [conflict, setConflict] = createSignal<string>();
  const [busy, setBusy] = createSignal(false);
  const [outcome, setOutcome] = createSignal<string>();
  const reverted = () => props.files.every((f) => props.turn.reverted?.includes(f));
  const run = async (force: boolean) => {
    setBusy(true);
    const r = await agents.revertTurn(props.turn.turn, force);
    setBusy(false);
    if (r.ok) {
      setConflict(undefined);
      setOutcome(`reverted ${r.reverted.length === 1 ? "1 file" : `${r.reverted.length} files`}`);
    } else if (r.error.code === "ERR_AGENT_REVERT_CONFLICT") setConflict(r.error.message);
    else {
      setConflict(undefined);
      setOutcome(r.error.message);
    }
  };
  return (
    <span class="turn-revert">
      <Show
        when={conflict()}
        fallback={
          <>
            <Show when={outcome() ?? (reverted() ? "reverted" : undefined)}>
              {(o) => (
                <span class="muted" data-testid="turn-revert-outcome">
                  {o()}
                </span>
              )}
            </Show>
            <Show when={!reverted()}>
              <button
                type="button"
                class="button"
                data-testid="turn-revert"
                disabled={busy()}
                title={props.files.join("\n")}
                onClick={() => void run(false)}
              >
                Revert this turn (
                {props.files.length === 1 ? "1 file" : `${props.files.length} files`})
              </button>
            </Show>
          </>
        }
      >
        {(c) => (
          <span class="turn-revert-conflict" role="alert" data-testid="turn-revert-conflict">
            {c()}
            <button
              type="button"
              class="button primary danger"
              data-testid="turn-revert-confirm"
              disabled={busy()}
              onClick={() => void run(true)}
            >
              Revert anyway
            </button>
            <button type="button" class="link-button" onClick={() => setConflict(undefined)}>
              Cancel
            </button>
          </span>
        )}
      </Show>
    </span>
  );
}
