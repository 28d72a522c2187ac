/**
 * One item of a turn's log: a message, thought, plan, tool call, command, file edit,
 * permission request or notice.
 */
import { For, Match, Show, Switch } from "solid-js";
import { type TurnView, turnEnded } from "../../../shared/agents.js";
import { useAgents } from "./agents-store.js";
import { lineDiff } from "./diff.js";
import type { LogItem } from "./log-model.js";
import { Markdown } from "./markdown.js";

export function LogEntry(props: { item: LogItem; turn: TurnView }) {
  const agents = useAgents();
  return (
    <Switch>
      <Match when={props.item.kind === "message" && props.item}>
        {(i) => <Markdown text={i().text} class="turn-message" />}
      </Match>
      <Match when={props.item.kind === "thought" && props.item}>
        {(i) => (
          <details class="turn-thought" open={!turnEnded(props.turn.status)}>
            <summary>Thinking</summary>
            <Markdown text={i().text} />
          </details>
        )}
      </Match>
      <Match when={props.item.kind === "plan" && props.item}>
        {(i) => (
          <ol class="turn-plan">
            <For each={i().entries}>
              {(e) => (
                <li data-status={e.status}>
                  {e.status === "completed" ? "✓" : e.status === "in_progress" ? "▸" : "○"}{" "}
                  {e.content}
                </li>
              )}
            </For>
          </ol>
        )}
      </Match>
      <Match when={props.item.kind === "tool" && props.item}>
        {(i) => (
          <div class="turn-tool" data-status={i().status}>
            <span class="turn-tool-kind">{i().toolKind}</span> {i().title}
            <span class="turn-tool-status">{i().status}</span>
            <Show when={i().text}>
              <pre>{i().text}</pre>
            </Show>
          </div>
        )}
      </Match>
      <Match when={props.item.kind === "command" && props.item}>
        {(i) => (
          <div class="turn-command">
            <div class="turn-command-line">
              <code>$ {[i().command, ...i().args].join(" ")}</code>
              <Show when={i().sandbox !== "none"}>
                <span class="badge">{i().sandbox}</span>
              </Show>
              <Show when={i().exit}>
                {(x) => <span class="muted">exit {x().exitCode ?? x().signal}</span>}
              </Show>
            </div>
            <pre data-testid="command-output">{i().output}</pre>
          </div>
        )}
      </Match>
      <Match when={props.item.kind === "file" && props.item}>
        {(i) => (
          <div class="turn-file">
            <div class="turn-file-head">
              <code>{i().path}</code>
              <span class="muted">{i().before === null ? "new file" : "edited"}</span>
              <Show when={props.turn.reverted?.includes(i().path)}>
                <span class="badge" data-testid="file-reverted">
                  reverted
                </span>
              </Show>
              <Show
                when={
                  !i().truncated &&
                  turnEnded(props.turn.status) &&
                  !props.turn.reverted?.includes(i().path)
                }
              >
                <button
                  type="button"
                  class="link-button"
                  onClick={() => void agents.revert(props.turn.turn, i().path)}
                >
                  Revert
                </button>
              </Show>
            </div>
            <pre class="turn-diff">
              <For each={lineDiff(i().before ?? "", i().after)}>
                {(l) =>
                  l.kind === "fold" ? (
                    <div class="diff-fold">… {l.count} unchanged lines</div>
                  ) : (
                    <div class={`diff-${l.kind}`}>
                      {l.kind === "add" ? "+" : l.kind === "del" ? "-" : " "} {l.text}
                    </div>
                  )
                }
              </For>
            </pre>
          </div>
        )}
      </Match>
      <Match when={props.item.kind === "permission" && props.item}>
        {(i) => (
          <div class="turn-permission" data-testid="permission">
            <span>Permission: {i().title}</span>
            <Show
              when={i().answer === undefined && props.turn.status === "running"}
              fallback={
                <span class="muted">
                  {i().answer ?? "not answered"}
                  {i().by && i().by !== "user" ? ` (${i().by})` : ""}
                </span>
              }
            >
              <For each={i().options}>
                {(o) => (
                  <button
                    type="button"
                    class="button"
                    data-kind={o.kind}
                    onClick={() => void agents.answer(props.turn.turn, i().request, o.optionId)}
                  >
                    {o.name}
                  </button>
                )}
              </For>
            </Show>
          </div>
        )}
      </Match>
      <Match when={props.item.kind === "notice" && props.item}>
        {(i) => (
          <div class="turn-notice" data-level={i().level}>
            {i().text}
          </div>
        )}
      </Match>
    </Switch>
  );
}
