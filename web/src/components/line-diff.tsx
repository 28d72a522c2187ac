/** Lines of a diff (lib/line-diff.ts): added and deleted lines marked, unchanged runs folded. */
import { For } from "solid-js";
import type { lineDiff } from "../lib/line-diff.js";
import "./line-diff.css";

export function LineDiffView(props: {
  lines: ReturnType<typeof lineDiff>;
  class?: string;
  testid?: string;
}) {
  return (
    <pre class={`line-diff ${props.class ?? ""}`} data-testid={props.testid}>
      <For each={props.lines}>
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
  );
}
