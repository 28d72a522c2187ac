/**
 * How each kind of app is started so that it works behind `/port/<n>/` (or `/proxy/<n>/`) and
 * leaves sign-in to plus: its command line for a port, the path it is opened at, and how to
 * install it. Pure data for the Apps pane.
 */

export interface Launcher {
  id: string;
  name: string;
  /** The command line for port `n`, to run in a terminal of the workspace. */
  command: (n: number) => string;
  /** Where the app is opened: `port` keeps the path (the app was given that base path). */
  mount: "port" | "proxy";
  install: string;
  note?: string;
}

export const LAUNCHERS: readonly Launcher[] = [
  {
    id: "jupyter-notebook",
    name: "Jupyter Notebook",
    command: (n) =>
      `jupyter-notebook --no-browser --ip=127.0.0.1 --port=${n} --NotebookApp.token='' --NotebookApp.password='' --NotebookApp.base_url=/port/${n}/`,
    mount: "port",
    install: "apt-get install jupyter-notebook   (or: pip install notebook)",
  },
  {
    id: "jupyterlab",
    name: "JupyterLab",
    command: (n) =>
      `jupyter lab --no-browser --ip=127.0.0.1 --port=${n} --ServerApp.token='' --ServerApp.password='' --ServerApp.base_url=/port/${n}/`,
    mount: "port",
    install: "pip install jupyterlab   (Debian has no package of it)",
  },
  {
    id: "code-server",
    name: "code-server (VS Code)",
    command: (n) => `code-server --auth none --bind-addr 127.0.0.1:${n}`,
    mount: "proxy",
    install:
      "curl -fsSL https://code-server.dev/install.sh | sh   (see https://coder.com/docs/code-server/install)",
    note: "code-server uses relative links only, so it is opened at /proxy/<n>/ (the prefix taken off).",
  },
  {
    id: "any",
    name: "Any web server",
    command: (n) => `python3 -m http.server ${n} --bind 127.0.0.1`,
    mount: "proxy",
    install: "Any program that listens on 127.0.0.1:<port>.",
    note: "An app that knows its base path (e.g. --base-url /port/<n>/) opens at /port/<n>/; one with relative links at /proxy/<n>/.",
  },
];

/** The path an app on port `n` is opened at. */
export function appPath(mount: "port" | "proxy", n: number): string {
  return `/${mount}/${n}/`;
}

/** A port typed by a person, or undefined when it is not one (1-65535). */
export function parseAppPort(text: string): number | undefined {
  const t = text.trim();
  if (!/^[1-9][0-9]{0,4}$/.test(t)) return undefined;
  const n = Number(t);
  return n <= 65535 ? n : undefined;
}
