import type { JSX } from "solid-js";

/** A whole-page message shown when there is no workspace to show. */
export function NoticePage(props: {
  title: string;
  testid?: string;
  tone?: "neutral" | "warn";
  children?: JSX.Element;
}) {
  return (
    <div class="notice-page" data-tone={props.tone ?? "neutral"}>
      <div class="notice-card" data-testid={props.testid}>
        <h1>{props.title}</h1>
        {props.children}
      </div>
    </div>
  );
}
