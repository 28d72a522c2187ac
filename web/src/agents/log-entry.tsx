/**
 * One item of a turn's log: a message, thought, plan, tool call, command, file edit,
 * permission request or notice.
 */
import { For, Match, Show, Switch } from "solid-js";
import { shellQuote, type TurnView, turnEnded } from "../../../shared/agents.js";
import type { LogItem } from "../../../shared/turn-log-model.js";
import { useAgents } from "./agents-store.js";
import { FileDiff } from "./file-diff.js";
import { Markdown } from "./markdown.js";

type ToolItem = Extract<LogItem, { kind: "tool" }>;
type PermissionItem = Extract<LogItem, { kind: "permission" }>;

/** An answered permission in the words of the option chosen ("Allow", not its id). */
function answerLabel(p: PermissionItem): string {
  if (p.answer === undefined) return "not answered";
  if (p.answer === "cancelled") return "cancelled";
  return p.options.find((o) => o.optionId === p.answer)?.name ?? p.answer;
}

/**
 * A tool call's files: each edit as recorded (whole file, revertable), else its diff as the
 * agent gave it (which may be an excerpt: not revertable, and the page says why).
 */
function toolFiles(t: ToolItem) {
  const recorded = Object.values(t.recorded ?? {});
  const diffs = t.diffs ?? [];
  const out = recorded.map((e) => ({
    path: e.path,
    before: e.before,
    after: e.after,
    revertable: !e.truncated,
    note: e.truncated ? "too large to revert from the log" : undefined,
  }));
  // A diff names the file as the agent did; the record, by its real path. One each: a pair.
  const unmatched = diffs.filter(
    (d) => !(t.recorded?.[d.path] || (diffs.length === 1 && recorded.length === 1)),
  );
  for (const d of unmatched) {
    out.push({
      path: d.path,
      before: d.oldText,
      after: d.newText,
      revertable: false,
      note:
        t.status === "completed"
          ? "not recorded: cannot be reverted (see the notice)"
          : t.status === "failed"
            ? "the tool call failed"
            : "proposed",
    });
  }
  return out;
}

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
            <For each={toolFiles(i())}>
              {(f) => (
                <FileDiff
                  turn={props.turn}
                  path={f.path}
                  before={f.before}
                  after={f.after}
                  revertable={f.revertable}
                  note={f.note}
                />
              )}
            </For>
          </div>
        )}
      </Match>
      <Match when={props.item.kind === "command" && props.item}>
        {(i) => (
          <div class="turn-command">
            <div class="turn-command-line">
              <code>$ {shellQuote([i().command, ...i().args])}</code>
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
          <FileDiff
            turn={props.turn}
            path={i().path}
            before={i().before}
            after={i().after}
            revertable={!i().truncated}
            note="too large to revert from the log"
            {...(i().byCommand && {
              what: i().deleted
                ? "deleted while the turn ran"
                : i().before === null
                  ? "created while the turn ran"
                  : "changed while the turn ran",
            })}
          />
        )}
      </Match>
      <Match when={props.item.kind === "untracked" && props.item}>
        {(i) => (
          <div class="turn-notice turn-untracked" data-testid="files-untracked">
            <div>
              Changed while the turn ran, with no record of what{" "}
              {i().files.length === 1 ? "it" : "they"} held before, so “Revert this turn” leaves{" "}
              {i().files.length === 1 ? "it" : "them"} as{" "}
              {i().files.length === 1 ? "it is" : "they are"}:
            </div>
            <ul>
              <For each={i().files}>
                {(f) => (
                  <li data-path={f.path}>
                    <code>{f.path}</code> — {f.change},{" "}
                    {f.why === "binary"
                      ? "a binary file"
                      : f.why === "too-large"
                        ? "too large to keep a copy of"
                        : "beyond what plus kept a copy of"}
                  </li>
                )}
              </For>
            </ul>
            <Show when={i().more > 0}>
              <div>… and {i().more} more.</div>
            </Show>
            <Show when={i().partial}>
              <div class="muted">
                The working directory is larger than plus looks at: changes further in are not seen.
              </div>
            </Show>
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
                <span class="muted" data-testid="permission-answer">
                  {answerLabel(i())}
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
