import { Show } from "solid-js";
import { type TurnView, turnEnded } from "../../../shared/agents.js";
import { LineDiffView } from "../components/line-diff.js";
import { lineDiff } from "../lib/line-diff.js";
import { useAgents } from "./agents-store.js";

/**
 * One file's change in a turn, collapsible: its path, what happened to it, the line diff,
 * and "Revert" when the turn recorded it whole (`revertable`).
 */
export function FileDiff(props: {
  turn: TurnView;
  path: string;
  before: string | null;
  after: string;
  /** Recorded whole, so it can be put back. */
  revertable: boolean;
  /** Why it cannot be put back (shown when not revertable). */
  note?: string;
  /** What happened to it, when not a plain edit ("changed by a command"). */
  what?: string;
}) {
  const agents = useAgents();
  const reverted = () => props.turn.reverted?.includes(props.path) === true;
  const lines = () => lineDiff(props.before ?? "", props.after);
  const counts = () => {
    let add = 0;
    let del = 0;
    for (const l of lines()) {
      if (l.kind === "add") add++;
      else if (l.kind === "del") del++;
    }
    return { add, del };
  };
  return (
    <details class="turn-file" open data-testid="file-diff" data-path={props.path}>
      <summary class="turn-file-head">
        <code>{props.path}</code>
        <span class="muted" data-testid="file-what">
          {props.what ?? (props.before === null ? "new file" : "edited")}
        </span>
        <span class="diff-counts">
          <span class="diff-count-add">+{counts().add}</span>{" "}
          <span class="diff-count-del">−{counts().del}</span>
        </span>
        <Show when={reverted()}>
          <span class="badge" data-testid="file-reverted">
            reverted
          </span>
        </Show>
        <Show when={!props.revertable && props.note}>
          <span class="muted" data-testid="file-not-revertable">
            {props.note}
          </span>
        </Show>
        <Show when={props.revertable && turnEnded(props.turn.status) && !reverted()}>
          <button
            type="button"
            class="link-button"
            data-testid="file-revert"
            onClick={(e) => {
              e.preventDefault();
              void agents.revert(props.turn.turn, props.path);
            }}
          >
            Revert
          </button>
        </Show>
      </summary>
      <LineDiffView lines={lines()} class="turn-diff" />
    </details>
  );
}
