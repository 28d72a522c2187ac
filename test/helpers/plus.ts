/** Runs the built `cocalc-plus` CLI as a real process, the way a user does. */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What users run: the bundled command (`npm run build` makes it). */
export const PLUS_BIN = new URL("../../dist/bundle/plus.js", import.meta.url).pathname;
export const WEB_BUILT = existsSync(new URL("../../dist/web/index.html", import.meta.url));

export interface RunningPlus {
  child: ChildProcess;
  dataDir: string;
  home: string;
  url: string;
  signInUrl: string;
  token: string;
  port: number;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A fresh HOME-like temp dir; XDG dirs inside it so nothing touches the real home. */
export async function tempHome(): Promise<string> {
  return mkdtemp(join(tmpdir(), "cocalc-plus-test-"));
}

export function plusEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
    ...extra,
  };
}

/** Runs the CLI to completion (for --help, bad flags, stop…). */
export function runPlus(args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [PLUS_BIN, ...args], {
    env,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What a run of the CLI ended with. */
export interface PlusRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion without blocking this process (which may serve what it asks). */
export function plusCommand(args: string[], env: NodeJS.ProcessEnv): Promise<PlusRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PLUS_BIN, ...args], { env, stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs `command` in a terminal, typing each answer once (in whatever order) when its prompt
 * shows; after `ms` the terminal is closed and what it printed is the failure's message.
 */
export function inTerminal(
  command: string,
  env: NodeJS.ProcessEnv,
  answers: [RegExp, string][],
  ms = 90_000,
): Promise<PlusRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], { stdio: "pipe", env });
    let stdout = "";
    let from = 0;
    const left = [...answers];
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no end in ${ms / 1000} s; the terminal showed:\n${stdout}`));
    }, ms);
    child.stdout.on("data", (d) => {
      stdout += d;
      for (let i = 0; i < left.length; i++) {
        const m = left[i]![0].exec(stdout.slice(from));
        if (!m) continue;
        from += m.index + m[0].length;
        child.stdin.write(left[i]![1]);
        left.splice(i, 1);
        i = -1;
      }
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: "" });
    });
  });
}

/** Starts plus and waits for its ready line. */
export async function startPlus(
  opts: {
    home?: string;
    dataDir?: string;
    args?: string[];
    /** Run as another user (tests of permissions run by root); home must belong to it. */
    user?: { uid: number; gid: number };
    /** More environment for plus. */
    env?: NodeJS.ProcessEnv;
    /** "last": no --port, so plus takes the port of its last start when free (default 0). */
    port?: number | "last";
  } = {},
): Promise<RunningPlus> {
  const home = opts.home ?? (await tempHome());
  const dataDir = opts.dataDir ?? join(home, "data");
  const child = spawn(
    process.execPath,
    [
      PLUS_BIN,
      "--no-open",
      ...(opts.port === "last" ? [] : ["--port", String(opts.port ?? 0)]),
      "--data-dir",
      dataDir,
      ...(opts.args ?? []),
    ],
    {
      env: plusEnv(home, opts.env),
      stdio: ["ignore", "pipe", "pipe"],
      ...opts.user,
    },
  );
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const signInUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`plus did not start:\n${out}`)), 60_000);
    const check = () => {
      const m = /cocalc-plus ready: (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`plus exited with ${code}:\n${out}`));
    });
  });
  const u = new URL(signInUrl);
  const token = u.searchParams.get("token")!;
  u.search = "";
  return {
    child,
    dataDir,
    home,
    url: u.toString(),
    signInUrl,
    token,
    port: Number(u.port),
    output: () => out,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

export async function removeHome(home: string): Promise<void> {
  await rm(home, { recursive: true, force: true });
}

/**
 * Signs in over HTTP the way the web app does (POST the token from this server's own origin);
 * returns the credential and the headers that authorise later requests.
 */
export async function signIn(
  port: number,
  token: string,
  host = "127.0.0.1",
): Promise<{ credential: string; headers: Record<string, string> }> {
  const origin = `http://${host}:${port}`;
  const res = await fetch(`${origin}/api/auth/sign-in`, {
    method: "POST",
    headers: { "content-type": "application/json", origin },
    body: JSON.stringify({ token }),
  });
  if (res.status !== 200) throw new Error(`sign-in answered ${res.status}: ${await res.text()}`);
  const { credential } = (await res.json()) as { credential: string };
  return { credential, headers: { authorization: `Bearer ${credential}`, origin } };
}

/** The subprotocols that carry a credential on the /nats WebSocket (as the web app sends them). */
export function natsSubprotocols(credential: string): string[] {
  return ["cocalc.v1", `cocalc.auth.${credential}`];
}
