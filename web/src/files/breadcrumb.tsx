/** Where the explorer is: each step of the path is a link; home shows as ~. */
import { createSignal, For } from "solid-js";
import { componentsOf, isInside, joinPath } from "../../../shared/paths.js";
import { HomeIcon } from "./icons.js";

interface Crumb {
  label: string;
  path: string;
}

export function crumbsOf(dir: string, home: string): Crumb[] {
  if (isInside(dir, home)) {
    const rest = dir === home ? [] : componentsOf(dir).slice(componentsOf(home).length);
    return [
      { label: "~", path: home },
      ...rest.map((label, i) => ({ label, path: joinPath(home, ...rest.slice(0, i + 1)) })),
    ];
  }
  const parts = componentsOf(dir);
  return [
    { label: "/", path: "/" },
    ...parts.map((label, i) => ({ label, path: joinPath("/", ...parts.slice(0, i + 1)) })),
  ];
}

export function Breadcrumb(props: {
  dir: string;
  home: string;
  onNavigate: (path: string) => void;
  /** Entries of the explorer are being dragged: each step but the last takes them. */
  moving?: () => boolean;
  onDropInto?: (path: string) => void;
}) {
  const crumbs = () => crumbsOf(props.dir, props.home);
  const [over, setOver] = createSignal<string>();
  const takes = (path: string) => props.moving?.() === true && path !== props.dir;
  return (
    <nav class="breadcrumb" aria-label="Path" data-testid="breadcrumb" data-path={props.dir}>
      <For each={crumbs()}>
        {(c, i) => (
          <>
            {i() > 1 || (i() === 1 && crumbs()[0]!.label !== "/") ? (
              <span class="crumb-sep">/</span>
            ) : null}
            <button
              type="button"
              class="crumb"
              aria-current={i() === crumbs().length - 1 ? "location" : undefined}
              title={c.path}
              data-testid="crumb"
              data-path={c.path}
              data-drop={over() === c.path ? "true" : undefined}
              onClick={() => props.onNavigate(c.path)}
              onDragOver={(e) => {
                if (!takes(c.path)) return;
                e.preventDefault();
                e.stopPropagation();
                if (e.dataTransfer) e.dataTransfer.dropEffect = "move";
                setOver(c.path);
              }}
              onDragLeave={() => setOver(undefined)}
              onDrop={(e) => {
                if (!takes(c.path)) return;
                e.preventDefault();
                e.stopPropagation();
                setOver(undefined);
                props.onDropInto?.(c.path);
              }}
            >
              {c.label === "~" ? (
                <>
                  <HomeIcon size={14} />
                  <span class="crumb-home">~</span>
                </>
              ) : (
                c.label
              )}
            </button>
          </>
        )}
      </For>
    </nav>
  );
}
