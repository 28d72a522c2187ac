/**
 * Apps: web apps on this machine's ports, opened behind plus's sign-in. A port is opened with a
 * short-lived link the gateway signs (POST /api/proxy/token) and exchanges for a cookie of that
 * app's path; "Copy link" gives such a link to another tab or tool (valid 5 minutes). The
 * launchers start Jupyter, JupyterLab, code-server or any server in a terminal of the
 * workspace (its supervisor and log) with the flags that make it work behind the proxy, and
 * say how to install it.
 */
import { createSignal, For, Show } from "solid-js";
import { Icon } from "../components/icons.js";
import { errorMessage, postJson } from "../lib/session.js";
import { useTerminals } from "../terminals/terminals-store.js";
import { appPath, LAUNCHERS, type Launcher, parseAppPort } from "./launchers.js";
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

interface Opened {
  port: number;
  mount: "port" | "proxy";
}

function readRecent(): Opened[] {
  try {
    const v = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]") as Opened[];
    return Array.isArray(v) ? v.slice(0, MAX_RECENT) : [];
  } catch {
    return [];
  }
}

/** A signed link to app `o` (path and query), valid 5 minutes. */
async function signedPath(o: Opened): Promise<{ path: string; expiresAt: string }> {
  const res = await postJson("/api/proxy/token", { port: o.port, strip: o.mount === "proxy" });
  if (!res.ok) throw new Error(await errorMessage(res));
  return (await res.json()) as { path: string; expiresAt: string };
}

export function AppsPane() {
  const [portText, setPortText] = createSignal("8888");
  const [mount, setMount] = createSignal<"port" | "proxy">("port");
  const [status, setStatus] = createSignal<{ text: string; error?: true }>();
  const [recent, setRecent] = createSignal<Opened[]>(readRecent());

  const remember = (o: Opened) => {
    const next = [o, ...recent().filter((r) => r.port !== o.port || r.mount !== o.mount)].slice(
      0,
      MAX_RECENT,
    );
    setRecent(next);
    try {
      localStorage.setItem(RECENT_KEY, JSON.stringify(next));
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
      const { path } = await signedPath(o);
      if (tab) {
        tab.opener = null;
        tab.location.href = path;
      } else location.assign(path);
      remember(o);
      setStatus({ text: `Opened ${appPath(o.mount, o.port)}` });
    } catch (err) {
      tab?.close();
      setStatus({ text: (err as Error).message, error: true });
    }
  };
  const copy = async (o: Opened | undefined) => {
    if (!o) return;
    try {
      const { path, expiresAt } = await signedPath(o);
      await navigator.clipboard.writeText(`${location.origin}${path}`);
      setStatus({
        text: `Link copied: it opens ${appPath(o.mount, o.port)} until ${new Date(expiresAt).toLocaleTimeString()}.`,
      });
    } catch (err) {
      setStatus({ text: (err as Error).message, error: true });
    }
  };

  return (
    <div class="apps-page" data-testid="apps">
      <h2>Apps</h2>
      <p class="apps-intro">
        A web server on a port of this machine opens here behind plus's sign-in, HTTP and WebSocket.
        It shares this page's origin: open only apps you trust as you trust plus.
      </p>
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
        <button type="submit" class="button" data-testid="apps-open">
          Open
        </button>
        <button
          type="button"
          class="button"
          data-testid="apps-copy"
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
              <button type="button" class="button" onClick={() => void open(r)}>
                {appPath(r.mount, r.port)}
              </button>
            )}
          </For>
        </div>
      </Show>
      <h2>Launchers</h2>
      <p class="apps-intro">
        "Start in a terminal" runs one in a new terminal of this workspace (its output there, Ctrl-C
        or closing the terminal stops it), then "Open" opens it. Each starts without a sign-in of
        its own and on 127.0.0.1 only: plus's sign-in is in front of it.
      </p>
      <ul class="apps-list">
        <For each={LAUNCHERS}>
          {(l) => <LauncherCard launcher={l} port={portText()} open={(o) => void open(o)} />}
        </For>
      </ul>
    </div>
  );
}

function LauncherCard(props: { launcher: Launcher; port: string; open: (o: Opened) => void }) {
  const terminals = useTerminals();
  const n = () => parseAppPort(props.port) ?? 8888;
  const [copied, setCopied] = createSignal(false);
  const [started, setStarted] = createSignal<{ text: string; error?: true }>();
  const start = async () => {
    const title = `${props.launcher.name} :${n()}`;
    const reply = await terminals.launch(title, props.launcher.command(n()));
    setStarted(
      reply.ok
        ? {
            text: `Started in the terminal "${title}" (Terminals tab: its output, Ctrl-C stops it).`,
          }
        : { text: reply.error.message, error: true },
    );
  };
  return (
    <li class="apps-card" data-testid="apps-launcher" data-launcher={props.launcher.id}>
      <h3>{props.launcher.name}</h3>
      <pre class="apps-cmd">{props.launcher.command(n())}</pre>
      <div class="apps-actions">
        <button type="button" class="button" data-testid="apps-launch" onClick={() => void start()}>
          Start in a terminal
        </button>
        <button
          type="button"
          class="button"
          data-testid="apps-launcher-open"
          onClick={() => props.open({ port: n(), mount: props.launcher.mount })}
        >
          Open
        </button>
        <button
          type="button"
          class="button"
          onClick={() =>
            void navigator.clipboard.writeText(props.launcher.command(n())).then(() => {
              setCopied(true);
            })
          }
        >
          {copied() ? "Copied" : "Copy command"}
        </button>
        <span class="apps-muted">
          opens at <code>{appPath(props.launcher.mount, n())}</code>
        </span>
      </div>
      <Show when={started()}>
        {(st) => (
          <p class="apps-status" role="status" data-error={st().error ? "" : undefined}>
            {st().text}
          </p>
        )}
      </Show>
      <span class="apps-muted">
        Not installed? <code>{props.launcher.install}</code>
      </span>
      <Show when={props.launcher.note}>
        <span class="apps-muted">{props.launcher.note}</span>
      </Show>
    </li>
  );
}
