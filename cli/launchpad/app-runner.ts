/**
 * Apps of a container workspace (services/apps/runner.ts): each runs inside the container as
 * the workspace's user, one `podman exec` whose process tree is a cgroup of its own
 * (services/host/exec-tree.ts), so stopping it ends all it started, and a tree left behind by
 * a killed host is found by its name when the service starts again. Programs and directories
 * are looked for inside, as the user; ports are looked at in the container's network
 * namespace (nsenter, a short node script: the image needs nothing). Each opens at an origin of
 * its own on the hub (`p<n>-<wsid>.<apps domain>`), so it is served from `/`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import {
  APP_MARK,
  type AppChild,
  type AppRunner,
  type PortProblem,
} from "../../services/apps/runner.js";
import { EXEC_MARKER, EXEC_WRAPPER, makeExecTree } from "../../services/host/exec-tree.js";
import { CocalcError } from "../../shared/errors.js";
import { WORKSPACE_HOME, workspaceExecArgv } from "../../shared/launchpad.js";

/**
 * `free`: a free port; `listen <port>`: why it cannot be listened on; `http <port> <path>`:
 * whether it answers HTTP; `get <port> <path>`: its answer (status and the start of its text).
 */
const NET_PROBE = `const [mode, port, path] = process.argv.slice(1);
const net = require("node:net");
const out = (s) => process.stdout.write(s, () => process.exit(0));
if (mode === "free") {
  const s = net.createServer();
  s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => out(String(p))); });
} else if (mode === "listen") {
  const hosts = ["127.0.0.1", "::1"];
  const next = () => {
    const host = hosts.shift();
    if (!host) return out("");
    const s = net.createServer();
    s.once("error", (e) => ["EADDRNOTAVAIL", "EAFNOSUPPORT"].includes(e.code) ? next() : out(e.code + " " + host));
    s.listen({ port: Number(port), host, exclusive: true }, () => s.close(next));
  };
  next();
} else if (mode === "get") {
  let text = "";
  const req = require("node:http").get({ host: "127.0.0.1", port: Number(port), path, timeout: 15000 }, (res) => {
    res.setEncoding("utf8");
    res.on("data", (d) => { if (text.length < 4096) text += d; });
    res.on("end", () => out(JSON.stringify({ status: res.statusCode, text })));
  });
  req.on("timeout", () => req.destroy(new Error("no answer in 15 s")));
  req.on("error", (e) => out(JSON.stringify({ error: e.message })));
} else {
  const req = require("node:http").request({ host: "127.0.0.1", port: Number(port), path, timeout: 2000 }, (res) => { res.resume(); out("yes"); });
  req.on("timeout", () => req.destroy());
  req.on("error", () => out("no"));
  req.end();
}`;

/** Where user-installed programs are (pip install --user) besides the image's PATH. */
const USER_PATH = `${WORKSPACE_HOME}/.local/bin`;

export interface ContainerAppsOptions {
  /** The podman command and its global arguments. */
  podman: readonly string[];
  container: string;
  /** The host pid of the container's init while it runs. */
  initPid(): Promise<number | undefined>;
}

interface Ran {
  code: number | null;
  stdout: string;
}

/** Runs `file args` to its end (at most 20 s), its output collected. */
function run(file: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(file, [...args], { stdio: ["ignore", "pipe", "ignore"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      if (stdout.length < 64 * 1024) stdout += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("error", () => resolve({ code: -1, stdout: "" }));
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

/** Its pid in its own (the innermost) pid namespace: the one the workspace's user sees. */
async function insidePid(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const line = status.split("\n").find((l) => l.startsWith("NSpid:"));
  const last = Number(line?.trim().split(/\s+/).at(-1));
  return Number.isInteger(last) && last > 0 ? last : undefined;
}

/** Runs NET_PROBE in the network namespace of the container whose init is `pid`. */
function probeIn(pid: number, args: readonly string[]): Promise<Ran> {
  return run("nsenter", [
    `--net=/proc/${pid}/ns/net`,
    "--",
    process.execPath,
    "-e",
    NET_PROBE,
    ...args,
  ]);
}

/**
 * A GET of a localhost address inside a running container (an agent's sign-in callback, which
 * listens on the container's loopback). Only the port and the path with its query are used.
 */
export async function getInContainer(
  initPid: () => Promise<number | undefined>,
  url: URL,
): Promise<{ status: number; text: string }> {
  const pid = await initPid();
  if (pid === undefined)
    throw new CocalcError(
      "ERR_WORKSPACE_STATE",
      "the workspace is not running: start it, then sign in",
    );
  const r = await probeIn(pid, ["get", url.port || "80", `${url.pathname}${url.search}`]);
  let a: { status?: number; text?: string; error?: string } = {};
  try {
    a = JSON.parse(r.stdout);
  } catch {
    // Said below.
  }
  if (typeof a.status !== "number")
    throw new CocalcError(
      "ERR_AGENT_SIGN_IN",
      `the agent's callback did not answer in the workspace: ${a.error ?? "could not look at the workspace's network"}`,
    );
  return { status: a.status, text: a.text ?? "" };
}

/** The exec id of app `mark` (`<wsid>.<app>`): its cgroup's name in the container. */
const treeId = (mark: string) => `app-${mark.replace(/[^A-Za-z0-9_-]/g, "-")}`;

export function containerAppRunner(o: ContainerAppsOptions): AppRunner {
  const [podman, ...global] = o.podman;
  const inside = (
    argv: readonly string[],
    env: Record<string, string> = {},
    cwd = WORKSPACE_HOME,
  ) => [...global, ...workspaceExecArgv(o.container, argv, { cwd, env })] as string[];
  const running = async (): Promise<number> => {
    const pid = await o.initPid();
    if (pid === undefined)
      throw new CocalcError(
        "ERR_WORKSPACE_STATE",
        "the workspace is not running: start it, then its apps",
      );
    return pid;
  };
  const probe = async (...args: string[]): Promise<string> => {
    const r = await probeIn(await running(), args);
    if (r.code !== 0)
      throw new CocalcError("ERR_APP_START", "could not look at the workspace's network");
    return r.stdout.trim();
  };
  const endTree = async (mark: string): Promise<void> => {
    const pid = await o.initPid();
    if (pid === undefined) return; // the container is gone, and all it ran with it
    await (await makeExecTree(pid, treeId(mark), { reuse: true }))?.kill();
  };
  return {
    home: WORKSPACE_HOME,
    origin: true,
    asRoot: false,
    async programs(names) {
      await running();
      const script = `PATH="$PATH:${USER_PATH}"; for p; do printf '%s\\t%s\\n' "$p" "$(command -v "$p")"; done`;
      const r = await run(podman!, inside(["/bin/sh", "-c", script, "sh", ...names]));
      const found = new Map<string, string>();
      for (const line of r.stdout.split("\n")) {
        const [name, path] = line.split("\t");
        if (name && path?.startsWith("/")) found.set(name, path);
      }
      return Object.fromEntries(names.map((n) => [n, found.get(n)]));
    },
    async isDirectory(path) {
      await running();
      return (await run(podman!, inside(["/bin/sh", "-c", 'test -d "$1"', "sh", path]))).code === 0;
    },
    freePort: async () => {
      const port = Number(await probe("free"));
      if (!(port > 0)) throw new CocalcError("ERR_APP_START", "no free port in the workspace");
      return port;
    },
    async portProblem(port): Promise<PortProblem | undefined> {
      const r = await probe("listen", String(port));
      if (r === "") return undefined;
      const [code = "ERROR", host = "127.0.0.1"] = r.split(" ");
      return code === "EACCES"
        ? { kind: "denied" }
        : { kind: "in-use", code, host: host.includes(":") ? `[${host}]` : host };
    },
    answersHttp: async (port, path) =>
      (await probe("http", String(port), path).catch(() => "no")) === "yes",
    output: async (file, args) => (await run(podman!, inside([file, ...args]))).stdout,
    async spawn(mark, file, args, opts): Promise<AppChild> {
      const initPid = await running();
      const id = treeId(mark);
      // What an earlier start left (a host killed while it ran) goes first.
      await endTree(mark);
      const tree = await makeExecTree(initPid, id);
      const env = {
        ...opts.env,
        [APP_MARK]: mark,
        [EXEC_MARKER]: id,
      };
      const argv = tree ? [...EXEC_WRAPPER, file, ...args] : [file, ...args];
      const child: ChildProcess = spawn(podman!, inside(argv, env, opts.cwd), {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let exited = false;
      child.once("exit", () => {
        exited = true;
      });
      child.once("error", () => {
        exited = true;
      });
      let pid = child.pid;
      if (tree) {
        // Its wrapper, stopped until it is in its cgroup; then its pid inside is the app's.
        if (await tree.adopt(() => exited)) {
          const [first] = await tree.pids();
          if (first !== undefined) pid = (await insidePid(first)) ?? pid;
        }
      }
      return {
        child,
        pid,
        async end(graceMs = 5000) {
          if (!tree) {
            child.kill("SIGKILL");
            return;
          }
          await tree.signal("SIGTERM");
          const deadline = Date.now() + graceMs;
          while ((await tree.pids()).length > 0 && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 50));
          await tree.kill();
        },
        // Its tree stays until the service starts again and ends it (endLeftover).
        killNow: () => child.kill("SIGKILL"),
      };
    },
    endLeftover: (mark) => endTree(mark),
  };
}
