/**
 * The anchor of the hub-login benchmark: Debian's JupyterHub 3 with its local process spawner
 * and one Linux user, and what a browser does to sign in to it and reach its single-user
 * server. Started as root (the spawner switches to the user), on free loopback ports, with its
 * database, cookie secret and proxy pid file in a temp dir; stopped with SIGTERM, which stops
 * the servers it spawned and its proxy too.
 */
import { execFile, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { writeFile } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../services/runtime/ports.js";
import { type Spawned, spawnServer, stopServer, waitForHttp200 } from "./proc.js";
import { sleep } from "./stats.js";

const execFileP = promisify(execFile);

export const JUPYTERHUB_INSTALL_HELP =
  "apt-get install -y jupyterhub (Debian 12: 3.0.0, with configurable-http-proxy; python3-notebook gives jupyterhub-singleuser its server)";

/** `pam`: Debian's default, the user's password checked by PAM against /etc/shadow. */
export type JupyterHubAuth = "pam" | "dummy";

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {}
  }
  return undefined;
}

export interface JupyterHubInstall {
  hub: string;
  singleuser: string;
  version: string;
}

/** The installed JupyterHub, or why there is none. */
export async function findJupyterHub(): Promise<JupyterHubInstall | string> {
  const hub = onPath("jupyterhub");
  if (!hub) return `jupyterhub is not installed (${JUPYTERHUB_INSTALL_HELP})`;
  const singleuser = join(dirname(hub), "jupyterhub-singleuser");
  try {
    accessSync(singleuser, constants.X_OK);
  } catch {
    return `${singleuser} is missing (${JUPYTERHUB_INSTALL_HELP})`;
  }
  if (!onPath("configurable-http-proxy"))
    return `configurable-http-proxy is not installed (${JUPYTERHUB_INSTALL_HELP})`;
  const { stdout } = await execFileP(hub, ["--version"], { timeout: 60_000 });
  return { hub, singleuser, version: stdout.trim() };
}

export interface LinuxUser {
  name: string;
  /** Milliseconds of one check of the password against its /etc/shadow hash (crypt(3)). */
  verifyMs(): Promise<number>;
  /** The hash method and cost, e.g. `yescrypt j9T` (from the hash's prefix). */
  hashMethod(): Promise<string>;
  remove(): Promise<void>;
}

async function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // No stdin pipe unless there is input: a command that exits without reading it would
    // fail our write with EPIPE, which nothing could catch.
    const child = spawn(cmd, args, {
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    child.once("error", reject);
    // After its output is read to the end, not only when it exited.
    child.once("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")}: ${err || code}`)),
    );
    if (input !== undefined) {
      child.stdin!.on("error", () => undefined);
      child.stdin!.end(input);
    }
  });
}

const SHADOW_HASH = `import spwd, sys
print(spwd.getspnam(sys.argv[1]).sp_pwdp)`;
const VERIFY = `import crypt, spwd, sys, time
h = spwd.getspnam(sys.argv[1]).sp_pwdp
pw = sys.stdin.read()
ts = []
for _ in range(21):
    t = time.perf_counter()
    assert crypt.crypt(pw, h) == h
    ts.append((time.perf_counter() - t) * 1000)
print(sorted(ts)[10])`;

/**
 * A Linux user with a home and this password, set through chpasswd (PAM: yescrypt on
 * Debian 12); made now unless it exists, and then removed again by `remove`.
 */
export async function linuxUser(name: string, password: string): Promise<LinuxUser> {
  const existed = await run("id", ["-u", name]).then(
    () => true,
    () => false,
  );
  if (!existed) await run("useradd", ["--create-home", "--shell", "/bin/sh", name]);
  await run("chpasswd", [], `${name}:${password}\n`);
  // Debian's python3, which has crypt and spwd (the one on PATH may be another).
  const python = ["/usr/bin/python3", "-W", "ignore", "-c"];
  return {
    name,
    verifyMs: async () =>
      Number(await run(python[0]!, [...python.slice(1), VERIFY, name], password)),
    hashMethod: async () => {
      const h = (await run(python[0]!, [...python.slice(1), SHADOW_HASH, name])).trim();
      const [, id, params] = h.split("$");
      const method = { y: "yescrypt", "6": "sha512crypt", "5": "sha256crypt" }[id ?? ""] ?? id;
      return id === "y" ? `${method} ${params}` : `${method}`;
    },
    async remove() {
      if (!existed) await run("userdel", ["--remove", name]).catch(() => "");
    },
  };
}

/** Cookies as a browser keeps them for one host: by name and path, sent where the path fits. */
class CookieJar {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>();

  take(res: Response, url: URL): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = "", ...attrs] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = url.pathname.replace(/\/[^/]*$/, "") || "/";
      let gone = false;
      for (const a of attrs) {
        const [k = "", v = ""] = a.split("=");
        if (k.toLowerCase() === "path") path = v;
        if (k.toLowerCase() === "max-age" && Number(v) <= 0) gone = true;
        if (k.toLowerCase() === "expires" && Date.parse(v) < Date.now()) gone = true;
      }
      if (gone) this.cookies.delete(`${name};${path}`);
      else this.cookies.set(`${name};${path}`, { name, value, path });
    }
  }

  header(url: URL): string {
    const p = url.pathname;
    return [...this.cookies.values()]
      .filter((c) => p === c.path || p.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }
}

/** The times of one sign-in to the first answer, in ms from the first request. */
export interface JupyterHubLogin {
  /** POST /hub/login answered (the password checked, the hub's cookie set). */
  signInMs: number;
  /** The server's /api/status answered with the server's own cookie (OAuth done). */
  totalMs: number;
}

export interface RunningJupyterHub {
  label: string;
  url: string;
  /** A browser with no cookies signs in and follows the hub until its server answers. */
  login(): Promise<JupyterHubLogin>;
  /** Starts the user's server through the hub's API and waits until it is ready. */
  spawn(): Promise<void>;
  /** Stops the user's server through the hub's API and waits until it is gone. */
  stopServer(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts JupyterHub in `dir` for Linux user `user` (the only one allowed), signing in with
 * `auth`: PAM checks the user's Linux password; the DummyAuthenticator takes `password` for
 * anyone (no hash at all). A service token lets the benchmark start and stop the server.
 */
export async function startJupyterHub(
  install: JupyterHubInstall,
  o: { dir: string; auth: JupyterHubAuth; user: string; password: string },
): Promise<RunningJupyterHub> {
  const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const token = `bench${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`;
  const py = (v: string) => JSON.stringify(v);
  const config = [
    "c = get_config()",
    `c.JupyterHub.bind_url = ${py(`http://127.0.0.1:${port}`)}`,
    `c.JupyterHub.hub_bind_url = ${py(`http://127.0.0.1:${hubPort}`)}`,
    `c.ConfigurableHTTPProxy.api_url = ${py(`http://127.0.0.1:${apiPort}`)}`,
    `c.ConfigurableHTTPProxy.pid_file = ${py(join(o.dir, "proxy.pid"))}`,
    `c.JupyterHub.db_url = ${py(`sqlite:///${join(o.dir, "jupyterhub.sqlite")}`)}`,
    `c.JupyterHub.cookie_secret_file = ${py(join(o.dir, "cookie_secret"))}`,
    `c.Authenticator.allowed_users = {${py(o.user)}}`,
    ...(o.auth === "dummy"
      ? [
          "c.JupyterHub.authenticator_class = 'dummy'",
          `c.DummyAuthenticator.password = ${py(o.password)}`,
        ]
      : []),
    `c.Spawner.cmd = [${py(install.singleuser)}]`,
    `c.JupyterHub.services = [{"name": "bench", "api_token": ${py(token)}}]`,
    `c.JupyterHub.load_roles = [{"name": "bench", "scopes": ["admin:users", "admin:servers"], "services": ["bench"]}]`,
  ];
  const file = join(o.dir, "jupyterhub_config.py");
  await writeFile(file, `${config.join("\n")}\n`);
  // Debian's configurable-http-proxy finds its modules in /usr/share/nodejs, which only
  // Debian's own node searches; a node from elsewhere needs NODE_PATH.
  const nodePath = [process.env.NODE_PATH, "/usr/share/nodejs"].filter(Boolean).join(delimiter);
  const server: Spawned = spawnServer(install.hub, ["-f", file], {
    ...process.env,
    NODE_PATH: nodePath,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp200(`${url}/hub/api`, server, 120_000);
  } catch (err) {
    await stopServer(server);
    throw err;
  }

  const api = async (method: string, path: string) => {
    const res = await fetch(`${url}/hub/api${path}`, {
      method,
      headers: { authorization: `token ${token}` },
    });
    const text = await res.text();
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as { server?: string | null; pending?: string | null }) : {};
  };
  const until = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + 60_000;
    while (!(await ok())) {
      if (Date.now() > deadline)
        throw new Error(`JupyterHub: ${what} within 60 s:\n${server.output()}`);
      await sleep(20);
    }
  };
  const user = o.user;

  return {
    label: `JupyterHub ${install.version} (${o.auth === "pam" ? "PAMAuthenticator" : "DummyAuthenticator"}, LocalProcessSpawner)`,
    url,
    login: () => jupyterHubLogin(url, user, o.password),
    async spawn() {
      await api("POST", `/users/${user}/server`);
      await until("the server ready", async () => {
        const u = await api("GET", `/users/${user}`);
        return Boolean(u.server) && !u.pending;
      });
    },
    async stopServer() {
      await api("DELETE", `/users/${user}/server`);
      await until("the server stopped", async () => {
        const u = await api("GET", `/users/${user}`);
        return !u.server && !u.pending;
      });
    },
    stop: () => stopServer(server),
  };
}

/**
 * What a browser does: POST the login form, then follow the hub's redirects (to the user's
 * server, or to spawn-pending, where the page waits on the progress events), through the
 * server's OAuth with the hub (authorize, then oauth_callback, which sets the server's own
 * cookie), and ask the server's `/user/<name>/api/status`. The tree page the callback would
 * go on to is not loaded: no page loads on either side, only the answers.
 */
async function jupyterHubLogin(
  base: string,
  user: string,
  password: string,
): Promise<JupyterHubLogin> {
  const jar = new CookieJar();
  const go = async (target: URL, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    const cookie = jar.header(target);
    if (cookie) headers.set("cookie", cookie);
    const res = await fetch(target, { ...init, headers, redirect: "manual" });
    jar.take(res, target);
    return res;
  };
  const t0 = performance.now();
  let res = await go(new URL("/hub/login", base), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username: user, password }).toString(),
  });
  await res.arrayBuffer();
  if (res.status !== 302)
    throw new Error(`JupyterHub: POST /hub/login answered ${res.status}, not a redirect`);
  const signInMs = performance.now() - t0;
  let url = new URL(res.headers.get("location")!, base);
  const callback = `/user/${user}/oauth_callback`;
  for (let hop = 0; ; hop++) {
    if (hop > 20) throw new Error(`JupyterHub: more than 20 redirects, at ${url}`);
    res = await go(url);
    await res.arrayBuffer();
    if (url.pathname === callback) {
      if (res.status !== 302) throw new Error(`JupyterHub: ${callback} answered ${res.status}`);
      break;
    }
    if (res.status === 302) {
      url = new URL(res.headers.get("location")!, url);
      continue;
    }
    if (res.status === 200 && url.pathname === `/hub/spawn-pending/${user}`) {
      url = new URL(await progressReady(go, base, user, url), base);
      continue;
    }
    throw new Error(`JupyterHub: ${url.pathname} answered ${res.status}`);
  }
  res = await go(new URL(`/user/${user}/api/status`, base));
  const status = (await res.json()) as { started?: string };
  if (res.status !== 200 || !status.started)
    throw new Error(`JupyterHub: /user/${user}/api/status answered ${res.status}`);
  return { signInMs, totalMs: performance.now() - t0 };
}

/** The spawn-pending page's wait: the progress event stream until it says ready; its url. */
async function progressReady(
  go: (u: URL, init?: RequestInit) => Promise<Response>,
  base: string,
  user: string,
  page: URL,
): Promise<string> {
  const done = new AbortController();
  const res = await go(new URL(`/hub/api/users/${user}/server/progress`, base), {
    headers: { accept: "text/event-stream", referer: page.toString() },
    signal: done.signal,
  });
  if (res.status !== 200 || !res.body) throw new Error(`JupyterHub: progress ${res.status}`);
  const decoder = new TextDecoder();
  let buffered = "";
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffered += decoder.decode(value, { stream: true });
      let end = buffered.indexOf("\n\n");
      while (end >= 0) {
        const event = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const data = JSON.parse(line.slice(5)) as {
            ready?: boolean;
            failed?: boolean;
            url?: string;
          };
          if (data.failed) throw new Error(`JupyterHub: the spawn failed: ${line}`);
          if (data.ready) return data.url ?? `/user/${user}/`;
        }
        end = buffered.indexOf("\n\n");
      }
    }
  } finally {
    done.abort();
  }
  throw new Error("JupyterHub: the progress stream ended before the server was ready");
}
