/**
 * The launchers of the Apps pane: what each kind of app is called, the command line it is
 * started with (shown, and copied for running it by hand), where it opens, how to install it.
 * The command line comes from shared/apps.ts, the same one the apps service runs.
 */
import {
  type AppKind,
  type AppMount,
  AppPrograms,
  appArgv,
  appPath,
} from "../../../shared/apps.js";

export { appPath };

export interface Launcher {
  kind: AppKind;
  name: string;
  mount: AppMount;
  install: string;
  note?: string;
}

export const LAUNCHERS: readonly Launcher[] = (
  ["jupyter-notebook", "jupyterlab", "code-server", "command"] as const
).map((kind) => ({
  kind,
  name: AppPrograms[kind].name,
  mount: AppPrograms[kind].mount,
  install: AppPrograms[kind].install,
  ...(kind === "code-server" && {
    note: "code-server uses relative links only, so it is opened at /proxy/<n>/ (the prefix taken off).",
  }),
  ...(kind === "command" && {
    note: "{port} and $PORT are its port. An app that knows its base path (--base-url /port/<n>/) opens at /port/<n>/; one with relative links at /proxy/<n>/.",
  }),
}));

export const DEFAULT_COMMAND = "python3 -m http.server {port} --bind 127.0.0.1";

/** Quotes one word for a POSIX shell when it needs it. */
function shellWord(w: string): string {
  return /^[-\w@%+=:,./~]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`;
}

/** Stands for a port not chosen yet (no real port has 6 digits). */
const UNCHOSEN = 999999;

/** The command line a launcher runs for port `n` (undefined: `<port>`), in shell words. */
export function launcherCommand(
  l: Launcher,
  n: number | undefined,
  o: { command?: string; mount?: AppMount } = {},
): string {
  const port = n ?? UNCHOSEN;
  const program = AppPrograms[l.kind].program ?? "";
  const [file, args] = appArgv(
    {
      kind: l.kind,
      port,
      mount: o.mount ?? l.mount,
      cwd: "~",
      command: o.command ?? DEFAULT_COMMAND,
    },
    program,
    // Debian's jupyter-notebook is 6.x; the service asks the installed one.
    l.kind === "jupyter-notebook" ? "NotebookApp" : "ServerApp",
  );
  const line = l.kind === "command" ? args[1]! : [file, ...args.map(shellWord)].join(" ");
  return n === undefined ? line.replaceAll(String(UNCHOSEN), "<port>") : line;
}

/** A port typed by a person, or undefined when it is not one (1-65535). */
export function parseAppPort(text: string): number | undefined {
  const t = text.trim();
  if (!/^[1-9][0-9]{0,4}$/.test(t)) return undefined;
  const n = Number(t);
  return n <= 65535 ? n : undefined;
}
