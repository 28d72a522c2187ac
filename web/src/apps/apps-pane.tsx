/**
 * Apps: web apps on this machine's ports, opened behind plus's sign-in. A port is opened with a
 * short-lived link the gateway signs (POST /api/proxy/token) and exchanges for a cookie of that
 * app's path; "Copy link" gives such a link to another tab or tool (valid 5 minutes). The
 * launchers start Jupyter, JupyterLab, code-server or any command as supervised apps of the
 * workspace (the apps service: running once the port answers, output kept, ended with plus),
 * with the flags that make them work behind the proxy; one whose program is missing says how
 * to install it. Started apps are listed live from the `apps` view.
 *
 * In a launchpad workspace the apps run inside its container and each port opens at an origin
 * of its own (`p<n>-<wsid>.<apps domain>`, a link from POST /api/hub/proxy/token), so no base
 * path is chosen; a viewer sees the apps and their logs and can neither open nor change them.
 */
import { createResource, createSignal, For, Show } from "solid-js";
import type { AppMount, AppProgramsAnswer, AppView } from "../../../shared/apps.js";
import { Icon } from "../components/icons.js";
import type { WorkspaceConnection } from "../lib/connection.js";
import { errorMessage, postJson } from "../lib/session.js";
import { useConnection } from "../stores/connection-store.js";
import { type AppsStore, createAppsStore } from "./apps-store.js";
import {
  appPath,
  DEFAULT_COMMAND,
  LAUNCHERS,
  type Launcher,
  launcherCommand,
  parseAppPort,
} from "./launchers.js";
import { RunningApps } from "./running-apps.js";
import "./apps.css";

export const AppsIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <rect x="3" y="3" width="7" height="7" rx="1.5" />
    <rect x="14" y="3" width="7" height="7" rx="1.5" />
    <rect x="3" y="14" width="7" height="7" rx="1.5" />
    <path d="M17.5 14v7M14 17.5h7" />
  </Icon>
);

const RECENT_KEY = "cocalc-plus.apps.recent";
const MAX_RECENT = 8;

export interface Opened {
  port: number;
  mount: AppMount;
}

function readRecent(key: string): Opened[] {
  try {
    const v = JSON.parse(localStorage.getItem(key) ?? "[]") as Opened[];
    return Array.isArray(v) ? v.slice(0, MAX_RECENT) : [];
  } catch {
    return [];
  }
}

/** How this page opens apps: plus's paths, or a hosted workspace's origins of their own. */
interface AppLinks {
  /** Apps open at an origin of their own: no base path to choose. */
  origin: boolean;
  /** A signed link to app `o` (a full URL), valid 5 minutes. */
  sign(o: Opened): Promise<{ url: string; expiresAt: string }>;
  /** Where it opens, in words. */
  where(o: Opened): string;
}

function appLinks(conn: WorkspaceConnection): AppLinks {
  if (conn.hosted)
    return {
      origin: true,
      async sign(o) {
        const res = await postJson("/api/hub/proxy/token", { wsid: conn.wsid, port: o.port });
        if (!res.ok) throw new Error(await errorMessage(res));
        return (await res.json()) as { url: string; expiresAt: string };
      },
      where: (o) => `port ${o.port}`,
    };
  return {
    origin: false,
    async sign(o) {
      const res = await postJson("/api/proxy/token", { port: o.port, strip: o.mount === "proxy" });
      if (!res.ok) throw new Error(await errorMessage(res));
      const body = (await res.json()) as { path: string; expiresAt: string };
      return { url: `${location.origin}${body.path}`, expiresAt: body.expiresAt };
    },
    where: (o) => appPath(o.mount, o.port),
  };
}

export function AppsPane() {
  const conn = useConnection();
  const links = appLinks(conn);
  const readOnly = () => conn.readOnly === true;
  const recentKey = conn.hosted ? `${RECENT_KEY}.${conn.wsid}` : RECENT_KEY;
  const store = createAppsStore(conn);
  const [programs] = createResource(() => store.programs().catch(() => undefined));
  const [portText, setPortText] = createSignal("8888");
  const [mount, setMount] = createSignal<AppMount>(links.origin ? "origin" : "port");
  const [status, setStatus] = createSignal<{ text: string; error?: true }>();
  const [recent, setRecent] = createSignal<Opened[]>(readRecent(recentKey));

  const remember = (o: Opened) => {
    const next = [o, ...recent().filter((r) => r.port !== o.port || r.mount !== o.mount)].slice(
      0,
      MAX_RECENT,
    );
    setRecent(next);
    try {
      localStorage.setItem(recentKey, JSON.stringify(next));
    } catch {
      // storage unavailable: the list lives as long as the page
    }
  };
  const chosen = (): Opened | undefined => {
    const port = parseAppPort(portText());
    if (port === undefined) {
      setStatus({ text: "A port is a whole number from 1 to 65535.", error: true });
      return undefined;
    }
    return { port, mount: mount() };
  };
  const open = async (o: Opened | undefined) => {
    if (!o) return;
    // Opened at once (a popup blocker lets a click's own window through), then sent on.
    const tab = window.open("about:blank", "_blank");
    try {
      const { url } = await links.sign(o);
      if (tab) {
        tab.opener = null;
        tab.location.href = url;
      } else location.assign(url);
      remember(o);
      setStatus({ text: `Opened ${links.where(o)}` });
    } catch (err) {
      tab?.close();
      setStatus({ text: (err as Error).message, error: true });
    }
  };
  const copy = async (o: Opened | undefined) => {
    if (!o) return;
    try {
      const { url, expiresAt } = await links.sign(o);
      await navigator.clipboard.writeText(url);
      setStatus({
        text: `Link copied: it opens ${links.where(o)} until ${new Date(expiresAt).toLocaleTimeString()}.`,
      });
    } catch (err) {
      setStatus({ text: (err as Error).message, error: true });
    }
  };

  return (
    <div class="apps-page" data-testid="apps">
      <h2>Apps</h2>
      <Show
        when={links.origin}
        fallback={
          <p class="apps-intro">
            A web server on a port of this machine opens here behind plus's sign-in, HTTP and
            WebSocket. It shares this page's origin: open only apps you trust as you trust plus.
          </p>
        }
      >
        <p class="apps-intro">
          A web server on a port inside this workspace opens at an address of its own behind the
          hub's sign-in, HTTP and WebSocket: its members reach it, nobody else.
        </p>
        <Show when={readOnly()}>
          <p class="apps-status" role="status" data-testid="apps-read-only">
            You are a viewer of this workspace: you see its apps and their logs, and cannot open,
            start or stop them.
          </p>
        </Show>
      </Show>
      <form
        class="apps-open"
        onSubmit={(e) => {
          e.preventDefault();
          void open(chosen());
        }}
      >
        <label>
          Port
          <input
            type="text"
            inputmode="numeric"
            value={portText()}
            onInput={(e) => setPortText(e.currentTarget.value)}
            data-testid="apps-port"
          />
        </label>
        <Show when={!links.origin}>
          <label title="The app was given this base path (Jupyter's --base_url)">
            <input
              type="radio"
              name="mount"
              checked={mount() === "port"}
              onChange={() => setMount("port")}
            />
            <code>/port/{portText()}/</code> path kept
          </label>
          <label title="The app uses relative links only (code-server, python -m http.server)">
            <input
              type="radio"
              name="mount"
              checked={mount() === "proxy"}
              onChange={() => setMount("proxy")}
            />
            <code>/proxy/{portText()}/</code> prefix taken off
          </label>
        </Show>
        <button type="submit" class="button" data-testid="apps-open" disabled={readOnly()}>
          Open
        </button>
        <button
          type="button"
          class="button"
          data-testid="apps-copy"
          disabled={readOnly()}
          onClick={() => void copy(chosen())}
        >
          Copy link (5 min)
        </button>
        <Show when={status()}>
          {(s) => (
            <p
              class="apps-status"
              role="status"
              data-error={s().error ? "" : undefined}
              data-testid="apps-status"
            >
              {s().text}
            </p>
          )}
        </Show>
      </form>
      <Show when={recent().length > 0}>
        <div class="apps-recent">
          <span class="apps-muted">Recent:</span>
          <For each={recent()}>
            {(r) => (
              <button
                type="button"
                class="button"
                disabled={readOnly()}
                onClick={() => void open(r)}
              >
                {links.where(r)}
              </button>
            )}
          </For>
        </div>
      </Show>
      <h2>Running apps</h2>
      <RunningApps
        store={store}
        open={(o) => void open(o)}
        copy={(o) => void copy(o)}
        where={(a: AppView) => links.where(a)}
        readOnly={readOnly()}
      />
      <h2>Launchers</h2>
      <Show
        when={links.origin}
        fallback={
          <p class="apps-intro">
            "Start" runs one as an app of this workspace: without a sign-in of its own, on 127.0.0.1
            only (plus's sign-in is in front of it), its output kept under "Logs", ended when plus
            stops. It shows "running" once its port answers.
          </p>
        }
      >
        <p class="apps-intro">
          "Start" runs one inside this workspace as its user: without a sign-in of its own, on
          127.0.0.1 only (the hub's sign-in is in front of it), its output kept under "Logs", ended
          when the workspace stops. It shows "running" once its port answers.
        </p>
      </Show>
      <ul class="apps-list">
        <For each={LAUNCHERS}>
          {(l) => (
            <LauncherCard
              launcher={l}
              store={store}
              origin={links.origin}
              readOnly={readOnly()}
              programs={programs()}
              status={(text, error) => setStatus(error ? { text, error } : { text })}
            />
          )}
        </For>
      </ul>
    </div>
  );
}

function LauncherCard(props: {
  launcher: Launcher;
  store: AppsStore;
  /** Apps open at an origin of their own (no base path to choose). */
  origin: boolean;
  readOnly: boolean;
  programs: AppProgramsAnswer | undefined;
  status: (text: string, error?: boolean) => void;
}) {
  const l = props.launcher;
  const [portText, setPortText] = createSignal("");
  const [command, setCommand] = createSignal(DEFAULT_COMMAND);
  const [mount, setMount] = createSignal<AppMount>(props.origin ? "origin" : l.mount);
  const [copied, setCopied] = createSignal(false);
  const [busy, setBusy] = createSignal(false);
  const [started, setStarted] = createSignal<{ text: string; error?: true }>();
  const installed = () => props.programs?.[l.kind]?.installed !== false;
  const port = () => parseAppPort(portText());
  const line = () =>
    launcherCommand(
      l,
      port(),
      l.kind === "command" || props.origin ? { command: command(), mount: mount() } : {},
    );
  const start = async () => {
    const text = portText().trim();
    if (text !== "" && port() === undefined) {
      setStarted({
        text: "A port is a whole number from 1 to 65535 (or blank: any free one).",
        error: true,
      });
      return;
    }
    setBusy(true);
    const reply = await props.store.start({
      kind: l.kind,
      ...(text !== "" && { port: text }),
      ...(l.kind === "command" && { command: command() }),
      ...(l.kind === "command" && mount() !== "origin" && { mount: mount() as "port" | "proxy" }),
    });
    setBusy(false);
    setStarted(
      reply.ok
        ? { text: "Started: it is listed under Running apps." }
        : { text: reply.error.message, error: true },
    );
  };
  return (
    <li
      class="apps-card"
      data-testid="apps-launcher"
      data-launcher={l.kind}
      data-installed={installed() ? "yes" : "no"}
    >
      <h3>{l.name}</h3>
      <Show when={l.kind === "command"}>
        <label class="apps-field">
          Command
          <input
            type="text"
            value={command()}
            onInput={(e) => setCommand(e.currentTarget.value)}
            data-testid="apps-command"
          />
        </label>
        <Show when={!props.origin}>
          <div class="apps-actions">
            <label>
              <input
                type="radio"
                checked={mount() === "proxy"}
                onChange={() => setMount("proxy")}
              />
              relative links (<code>/proxy/</code>)
            </label>
            <label>
              <input type="radio" checked={mount() === "port"} onChange={() => setMount("port")} />
              knows its base path (<code>/port/</code>)
            </label>
          </div>
        </Show>
      </Show>
      <pre class="apps-cmd">{line()}</pre>
      <div class="apps-actions">
        <label class="apps-port">
          Port
          <input
            type="text"
            inputmode="numeric"
            placeholder="any free"
            value={portText()}
            onInput={(e) => setPortText(e.currentTarget.value)}
            data-testid="apps-launcher-port"
          />
        </label>
        <button
          type="button"
          class="button"
          data-testid="apps-start"
          disabled={!installed() || busy() || props.readOnly}
          onClick={() => void start()}
        >
          {busy() ? "Starting…" : "Start"}
        </button>
        <button
          type="button"
          class="button"
          onClick={() =>
            void navigator.clipboard.writeText(line()).then(
              () => setCopied(true),
              (err: Error) => props.status(err.message, true),
            )
          }
        >
          {copied() ? "Copied" : "Copy command"}
        </button>
        <Show
          when={!props.origin}
          fallback={<span class="apps-muted">opens at an address of its own</span>}
        >
          <span class="apps-muted">
            opens at{" "}
            <code>
              {port()
                ? appPath(l.kind === "command" ? mount() : l.mount, port()!)
                : `/${l.kind === "command" ? mount() : l.mount}/<port>/`}
            </code>
          </span>
        </Show>
      </div>
      <Show when={started()}>
        {(st) => (
          <p class="apps-status" role="status" data-error={st().error ? "" : undefined}>
            {st().text}
          </p>
        )}
      </Show>
      <Show
        when={installed()}
        fallback={
          <p class="apps-missing" data-testid="apps-missing">
            Not installed. Install it with: <code>{l.install}</code>
          </p>
        }
      >
        <Show when={l.kind !== "command"}>
          <span class="apps-muted">
            Not installed? <code>{l.install}</code>
          </span>
        </Show>
      </Show>
      <Show when={l.note && !props.origin}>
        <span class="apps-muted">{l.note}</span>
      </Show>
    </li>
  );
}
