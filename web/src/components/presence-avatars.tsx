/** People as round avatars: initials in their colour, their name (and where they are) on hover. */
import { For, Show } from "solid-js";

export interface AvatarPerson {
  name: string;
  color: string;
  /** Shown dimmed: a page in a background tab. */
  away?: boolean;
}

/** "Ada Lovelace" → "AL", "chrome x1Z" → "CX", "ada" → "AD". */
export function initialsOf(name: string): string {
  const words = name
    .trim()
    .split(/[\s._@-]+/)
    .filter(Boolean);
  const letters =
    words.length > 1 ? `${words[0]![0]}${words[1]![0]}` : (words[0] ?? "?").slice(0, 2);
  return letters.toUpperCase();
}

export function Avatar(props: {
  person: AvatarPerson;
  title?: string;
  testid?: string;
  small?: boolean;
}) {
  return (
    <span
      class="avatar"
      classList={{ away: props.person.away === true, "avatar-small": props.small === true }}
      style={{ "background-color": props.person.color }}
      title={props.title ?? props.person.name}
      data-testid={props.testid ?? "avatar"}
      data-name={props.person.name}
    >
      {initialsOf(props.person.name)}
    </span>
  );
}

/** A row of avatars, at most `max` and "+n" for the rest; nothing when there is nobody. */
export function PresenceAvatars<P extends AvatarPerson>(props: {
  people: readonly P[];
  title: (p: P) => string;
  testid: string;
  max?: number;
}) {
  const max = () => props.max ?? 6;
  return (
    <Show when={props.people.length > 0}>
      <span class="avatars" data-testid={props.testid} data-count={props.people.length}>
        <For each={props.people.slice(0, max())}>
          {(p) => <Avatar person={p} title={props.title(p)} testid="presence-avatar" />}
        </For>
        <Show when={props.people.length > max()}>
          <span
            class="avatar more"
            title={props.people
              .slice(max())
              .map((p) => props.title(p))
              .join("\n")}
          >
            +{props.people.length - max()}
          </span>
        </Show>
      </span>
    </Show>
  );
}
