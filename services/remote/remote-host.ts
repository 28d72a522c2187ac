/**
 * What plus does on a remote host, over an SshClient: probe (OS, CPU, Node, installed
 * versions, a running daemon), install by copying this machine's bundle (the remote needs
 * no internet), start the daemon, and stop it. The daemon's token stays in a 0600 file on
 * the remote and travels only over ssh's stdout.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { CocalcError } from "../../shared/errors.js";
import { REMOTE_INSTALL_ROOT } from "../../shared/remote.js";
import { type SshClient, shq, sshFailure } from "./ssh.js";

/** This machine's plus: what gets copied to a remote. */
export interface LocalBundle {
  version: string;
  /** The package root: package.json, dist/bundle, dist/web, node_modules. */
  root: string;
  /** The nats-server binary plus runs; copied along so the remote needs none. */
  natsServer?: string;
}

/** A Node platform: `process.platform` and `process.arch`. */
export interface Platform {
  platform: string;
  arch: string;
}

const LOCAL: Platform = { platform: process.platform, arch: process.arch };
const key = (t: Platform) => `${t.platform}-${t.arch}`;
const same = (a: Platform, b: Platform) => a.platform === b.platform && a.arch === b.arch;

/**
 * Native modules (and what they load) the bundle needs from node_modules at run time: the
 * parts of each every platform uses, and the binary for platform `t` when this package
 * carries one (built here for this machine `l`; prebuilt ones as the package ships them).
 * node-pty runs the terminals, zeromq the notebooks' kernels, better-sqlite3 is for sync.
 */
const NATIVE: readonly {
  name: string;
  common: readonly string[];
  binary?: (t: Platform, l: Platform) => string | undefined;
  required: boolean;
  /** What the remote goes without when an optional one cannot be installed there. */
  without?: string;
}[] = [
  {
    name: "node-pty",
    common: ["package.json", "lib"],
    binary: (t, l) => (same(t, l) ? "build/Release" : `prebuilds/${key(t)}`),
    required: true,
  },
  {
    name: "zeromq",
    common: ["package.json", "lib", "build/manifest.json"],
    binary: (t) => `build/${t.platform}/${t.arch}`,
    required: false,
    without: "notebooks there get no kernel",
  },
  { name: "cmake-ts", common: ["package.json", "build"], required: false },
  {
    name: "better-sqlite3",
    common: ["package.json", "lib"],
    binary: (t, l) => (same(t, l) ? "build/Release/better_sqlite3.node" : undefined),
    required: false,
    without: "folders cannot be synced with it",
  },
  { name: "bindings", common: ["."], required: false },
  { name: "file-uri-to-path", common: ["."], required: false },
];

/** A native module this package carries no binary of for the remote: npm installs it there. */
export interface RegistryModule {
  name: string;
  version: string;
  required: boolean;
  without?: string;
}

/** What an install on platform `target` copies of the native modules, and what it needs from npm. */
export function nativeLayout(
  root: string,
  target: Platform,
  local: Platform = LOCAL,
): { members: string[]; transforms: string[]; fromRegistry: RegistryModule[] } {
  const members: string[] = [];
  const transforms: string[] = [];
  const fromRegistry: RegistryModule[] = [];
  for (const m of NATIVE) {
    const dir = packageDir(root, m.name);
    if (!dir) {
      if (m.required)
        throw new CocalcError(
          "ERR_REMOTE_INSTALL",
          `the native module ${m.name} is not installed here, so it cannot be copied to the remote`,
        );
      continue;
    }
    const binary = m.binary?.(target, local);
    if (m.binary && (binary === undefined || !existsSync(join(dir, binary)))) {
      const { version } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        version: string;
      };
      fromRegistry.push({
        name: m.name,
        version,
        required: m.required,
        ...(m.without && { without: m.without }),
      });
      continue;
    }
    const parts = [...m.common, ...(binary ? [binary] : [])].filter((p) =>
      existsSync(join(dir, p)),
    );
    // Packed as <name>/… from beside it, renamed into node_modules/<name>/… of the install.
    members.push("-C", dirname(dir), ...parts.map((p) => (p === "." ? m.name : `${m.name}/${p}`)));
    transforms.push("--transform", `s|^${m.name}\\(/\\|$\\)|node_modules/${m.name}\\1|`);
  }
  return { members, transforms, fromRegistry };
}

/**
 * Where `name` is installed as Node would find it from the package root: in its own
 * node_modules or one of its parents' (npx and npm put dependencies beside the package).
 */
export function packageDir(root: string, name: string): string | undefined {
  for (let dir = root; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * tar arguments that pack the bundle, the native modules it carries for `target` and (for this
 * machine's platform) nats-server as the install tree.
 */
export function bundleTarArgs(bundle: LocalBundle, target: Platform = LOCAL): string[] {
  const missing = ["dist/bundle/plus.js", "dist/web"].filter(
    (f) => !existsSync(join(bundle.root, f)),
  );
  if (missing.length > 0) {
    throw new CocalcError(
      "ERR_REMOTE_INSTALL",
      `this cocalc-plus has no built bundle to copy (missing ${missing.join(", ")} in ${bundle.root}); run npm run build`,
    );
  }
  const native = nativeLayout(bundle.root, target);
  const transforms = [...native.transforms];
  const members: string[] = [
    "-C",
    bundle.root,
    "package.json",
    "dist/bundle",
    "dist/web",
    ...native.members,
  ];
  // This machine's nats-server runs on this machine's platform only; another uses its own.
  if (bundle.natsServer && same(target, LOCAL)) {
    const rel = bundle.natsServer.replace(/^\/+/, "");
    transforms.push("--transform", `s|^${rel.replace(/[|]/g, "")}$|bin/nats-server|`);
    members.push("-C", "/", rel);
  }
  // The code cache (cli/bin/load-bundled.ts) is this machine's Node's, and a plus starting from this checkout may be
  // writing it while tar reads: the remote makes its own at its first start.
  return [...transforms, "--exclude=dist/bundle/code-cache", "-chzf", "-", ...members];
}

const builds = new Map<string, string>();

/**
 * What tells two builds of one version apart (a development checkout rebuilds without a new
 * version): a hash of the server bundle and the web app's entry page.
 */
export function bundleBuild(bundle: LocalBundle): string {
  const known = builds.get(bundle.root);
  if (known) return known;
  const h = createHash("sha256");
  const dir = join(bundle.root, "dist", "bundle");
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isFile()) h.update(name).update(readFileSync(path));
  }
  const index = join(bundle.root, "dist", "web", "index.html");
  if (existsSync(index)) h.update(readFileSync(index));
  const id = h.digest("hex").slice(0, 16);
  builds.set(bundle.root, id);
  return id;
}

/** True when the remote has exactly this build of plus. */
export function hasBuild(p: Probe, bundle: LocalBundle): boolean {
  return p.versions.includes(bundle.version) && p.builds[bundle.version] === bundleBuild(bundle);
}

/** Node's names for the platform of `uname -s` / `uname -m`. */
export function nodePlatform(os: string, arch: string): { platform: string; arch: string } {
  const platform = { Linux: "linux", Darwin: "darwin" }[os] ?? os.toLowerCase();
  const a =
    { x86_64: "x64", amd64: "x64", aarch64: "arm64", arm64: "arm64" }[arch] ?? arch.toLowerCase();
  return { platform, arch: a };
}

const SUPPORTED = new Set(["linux-x64", "linux-arm64", "darwin-arm64"]);

/** What a running remote daemon wrote to its connection-info file. */
export interface RemoteConnectionInfo {
  port: number;
  pid: number;
  version: string;
  started?: string;
}

export interface Probe {
  os: string;
  arch: string;
  home: string;
  node?: string;
  nodeVersion?: string;
  /** The remote's own nats-server, if it has one on its PATH. */
  natsServer?: string;
  /** The npm beside its Node (or on its PATH). */
  npm?: string;
  /** Versions installed under ~/.cache/cocalc/cocalc-plus (complete installs only). */
  versions: string[];
  /** The build id of each installed version (what its .complete marker holds). */
  builds: Record<string, string>;
  /** The daemon that runs, if one does. */
  daemon?: RemoteConnectionInfo;
  token?: string;
}

/** The remote directories of plus, as shell words that expand on the remote. */
const DATA = '"$HOME/.local/share/cocalc-plus"';
const SSH_DIR = `${DATA}/ssh`;
const INSTALL = `"$HOME/${REMOTE_INSTALL_ROOT}"`;
/**
 * A non-interactive ssh shell often lacks the PATH of a login shell; Debian's nats-server is in
 * /usr/sbin, which a user's PATH does not have.
 */
const PATH_FIX =
  'PATH="$PATH:/usr/local/bin:/opt/homebrew/bin:$HOME/.local/bin:/usr/sbin:/sbin"; export PATH';

const PROBE = [
  PATH_FIX,
  'echo "os=$(uname -s)"',
  'echo "arch=$(uname -m)"',
  'echo "home=$HOME"',
  "n=$(command -v node 2>/dev/null || true)",
  // Where a login shell finds it (nvm, asdf or a PATH set in ~/.profile): its last path line.
  'if [ -z "$n" ] && [ -n "$SHELL" ] && [ -x "$SHELL" ]; then n=$("$SHELL" -lc "command -v node" < /dev/null 2>/dev/null | sed -n "/^\\//p" | sed -n "\\$p"); fi',
  'if [ -z "$n" ]; then for c in "$HOME"/.nvm/versions/node/*/bin/node "$HOME/.volta/bin/node" "$HOME/.asdf/shims/node"; do [ -x "$c" ] && n="$c"; done; fi',
  'echo "node=$n"',
  'if [ -n "$n" ]; then echo "nodev=$("$n" -v 2>/dev/null)"; fi',
  // What a remote of another platform than this machine's uses: its own nats-server, and npm.
  'echo "nats=$(command -v nats-server 2>/dev/null)"',
  'if [ -n "$n" ] && [ -x "$(dirname "$n")/npm" ]; then echo "npm=$(dirname "$n")/npm"; else echo "npm=$(command -v npm 2>/dev/null)"; fi',
  `for d in ${INSTALL}/*/; do [ -f "$d.complete" ] && echo "installed=$(basename "$d") $(head -c 64 "$d.complete")"; done 2>/dev/null`,
  `c=${SSH_DIR}/connection.json`,
  'if [ -f "$c" ]; then',
  '  pid=$(sed -n \'s/.*"pid": *\\([0-9][0-9]*\\).*/\\1/p\' "$c")',
  '  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then',
  '    if [ ! -r "/proc/$pid/cmdline" ] || tr "\\0" " " < "/proc/$pid/cmdline" | grep -q "plus.js"; then',
  '      echo "conn=$(tr -d "\\n" < "$c")"',
  `      [ -f ${SSH_DIR}/token ] && echo "token=$(cat ${SSH_DIR}/token)"`,
  "    fi",
  "  fi",
  "fi",
  "true",
].join("\n");

export function parseProbe(stdout: string): Probe {
  const probe: Probe = { os: "", arch: "", home: "", versions: [], builds: {} };
  for (const line of stdout.split("\n")) {
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).trim();
    if (key === "os") probe.os = value;
    else if (key === "arch") probe.arch = value;
    else if (key === "home") probe.home = value;
    else if (key === "node" && value) probe.node = value;
    else if (key === "nodev" && value) probe.nodeVersion = value;
    else if (key === "nats" && value) probe.natsServer = value;
    else if (key === "npm" && value) probe.npm = value;
    else if (key === "installed" && value) {
      const [version, build] = value.split(" ");
      probe.versions.push(version!);
      if (build) probe.builds[version!] = build;
    } else if (key === "token" && value) probe.token = value;
    else if (key === "conn" && value) {
      try {
        const c = JSON.parse(value) as Partial<RemoteConnectionInfo>;
        if (
          typeof c.port === "number" &&
          typeof c.pid === "number" &&
          typeof c.version === "string"
        )
          probe.daemon = {
            port: c.port,
            pid: c.pid,
            version: c.version,
            ...(c.started !== undefined && { started: c.started }),
          };
      } catch {
        // a half-written file: treated as no daemon
      }
    }
  }
  return probe;
}

/** OS, CPU, Node, installs and a running daemon, in one round trip. */
export async function probe(ssh: SshClient): Promise<Probe> {
  const r = await ssh.must("cannot inspect the remote", PROBE);
  const p = parseProbe(r.stdout);
  if (!p.os || !p.arch)
    throw new CocalcError("ERR_REMOTE_SSH", "the remote did not report its OS and CPU (uname)", {
      sshOutput: r.stdout + r.stderr,
    });
  return p;
}

/**
 * Throws ERR_REMOTE_PLATFORM / ERR_REMOTE_NO_NODE when plus cannot run there. Returns the
 * native modules an install there gets from the npm registry (none on this machine's platform).
 */
export function checkRunnable(p: Probe, local: Platform = LOCAL, root?: string): RegistryModule[] {
  const remote = nodePlatform(p.os, p.arch);
  const k = key(remote);
  if (!SUPPORTED.has(k)) {
    throw new CocalcError(
      "ERR_REMOTE_PLATFORM",
      `unsupported OS/arch: the remote is ${p.os} ${p.arch}; cocalc-plus runs on ${[...SUPPORTED].join(", ")}`,
    );
  }
  if (!p.node) {
    throw new CocalcError(
      "ERR_REMOTE_NO_NODE",
      "no Node on the remote: `node` is not on the PATH of a non-interactive ssh shell there (checked PATH plus /usr/local/bin and ~/.local/bin), nor in a login shell's, nor in ~/.nvm, ~/.volta or ~/.asdf; install Node.js 20 or newer on the remote",
    );
  }
  const major = Number(/^v(\d+)/.exec(p.nodeVersion ?? "")?.[1] ?? 0);
  if (major < 20) {
    throw new CocalcError(
      "ERR_REMOTE_NO_NODE",
      `the remote's Node (${p.node} ${p.nodeVersion ?? "unknown version"}) is too old; cocalc-plus needs Node.js 20 or newer`,
    );
  }
  if (same(remote, local) || root === undefined) return [];
  const where = `the remote is ${p.os} ${p.arch} (${k}), this machine ${key(local)}`;
  if (!p.natsServer) {
    throw new CocalcError(
      "ERR_REMOTE_PLATFORM",
      `no nats-server for ${k} on the remote: ${where}, and this machine's nats-server does not run there; install nats-server on the remote (Debian/Ubuntu: sudo apt-get install nats-server; macOS: brew install nats-server), then connect again`,
    );
  }
  const fromRegistry = nativeLayout(root, remote, local).fromRegistry;
  const required = fromRegistry.filter((m) => m.required).map((m) => `${m.name}@${m.version}`);
  if (required.length > 0 && !p.npm) {
    throw new CocalcError(
      "ERR_REMOTE_PLATFORM",
      `no npm on the remote to install ${required.join(", ")} for ${k}: ${where}, and this cocalc-plus carries no ${k} build of ${required.join(", ")}; install npm there (it comes with Node.js), or run cocalc-plus ssh from a ${k} machine`,
    );
  }
  return fromRegistry;
}

/** How the install's script says an optional module could not be installed (on its stdout). */
const OPTIONAL_MISSING = "cocalc-optional-missing";

/**
 * Copies the bundle into ~/.cache/cocalc/cocalc-plus/<version>/ (a temp dir renamed into
 * place, so a cut copy leaves nothing half-installed) and removes every other version.
 */
export async function install(
  ssh: SshClient,
  bundle: LocalBundle,
  onProgress: (bytes: number) => void,
  remote?: { probe: Probe; fromRegistry: readonly RegistryModule[] },
): Promise<{ missing: RegistryModule[] }> {
  const target = remote ? nodePlatform(remote.probe.os, remote.probe.arch) : LOCAL;
  const tarArgs = bundleTarArgs(bundle, target);
  const npm = remote?.probe.npm;
  const node = remote?.probe.node;
  // Each module in a folder of its own (no package.json of ours: npm would install its whole tree).
  const fromRegistry =
    npm && node
      ? (remote?.fromRegistry ?? []).map((m) => {
          const spec = shq(`${m.name}@${m.version}`);
          const get = `(cd "$t/.native-${m.name}" && ${shq(npm)} install --no-audit --no-fund --no-package-lock --omit=dev --loglevel=error ${spec}) > "$t/.npm.log" 2>&1`;
          return [
            `mkdir -p "$t/.native-${m.name}"; echo '{"private":true}' > "$t/.native-${m.name}/package.json"`,
            m.required
              ? `${get} || { echo "npm install ${m.name}@${m.version} failed:" >&2; tail -n 15 "$t/.npm.log" >&2; exit 5; }`
              : `${get} || echo ${shq(`${OPTIONAL_MISSING} ${m.name}@${m.version}`)}`,
            // Moved into the install's node_modules, but for packages the install has already.
            `n="$t/.native-${m.name}/node_modules"`,
            // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's own expansions
            'if [ -d "$n" ]; then mkdir -p "$t/node_modules"; for x in "$n"/* "$n"/@*/*; do [ -e "$x" ] || continue; r="${x#"$n"/}"; case "$r" in @*/*) mkdir -p "$t/node_modules/${r%%/*}";; @*) continue;; esac; [ -e "$t/node_modules/$r" ] || mv "$x" "$t/node_modules/$r"; done; fi',
            `rm -rf "$t/.native-${m.name}" "$t/.npm.log"`,
          ].join("\n");
        })
      : [];
  const v = shq(bundle.version);
  const script = [
    "set -e",
    "umask 022",
    `d=${INSTALL}`,
    'mkdir -p "$d"',
    't=$(mktemp -d "$d/.tmp.XXXXXX")',
    // A cut or failed copy (a full disk) leaves nothing behind to fill it further.
    "trap 'rm -rf \"$t\"' EXIT",
    'tar -xzf - -C "$t"',
    '[ -f "$t/dist/bundle/plus.js" ] || { echo "the copied bundle is incomplete" >&2; exit 3; }',
    'if [ -f "$t/bin/nats-server" ]; then chmod 755 "$t/bin/nats-server"; fi',
    ...(node && fromRegistry.length > 0
      ? [`PATH="$(dirname ${shq(node)}):$PATH"; export PATH`, ...fromRegistry]
      : []),
    `echo ${shq(bundleBuild(bundle))} > "$t/.complete"`,
    `rm -rf "$d/"${v}`,
    `mv "$t" "$d/"${v}`,
    "trap - EXIT",
    // Old versions are only a cache: keep the one just installed.
    `for x in "$d"/* "$d"/.tmp.*; do [ -e "$x" ] || continue; [ "$x" = "$d/"${v} ] || rm -rf "$x"; done`,
  ].join("\n");
  const tar = spawn("tar", tarArgs, { stdio: ["ignore", "pipe", "pipe"] });
  let tarErr = "";
  tar.stderr.setEncoding("utf8");
  tar.stderr.on("data", (d: string) => {
    tarErr += d;
  });
  let bytes = 0;
  let last = 0;
  tar.stdout.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes - last > 4 * 1024 * 1024) {
      last = bytes;
      onProgress(bytes);
    }
  });
  const tarDone = new Promise<number | null>((resolve) => tar.once("close", resolve));
  const r = await ssh.run(script, { input: tar.stdout });
  // A remote that stopped reading (a full disk) breaks the local tar's pipe: its error is the cause.
  if (r.code !== 0) {
    tar.kill();
    await tarDone;
    const err = sshFailure("copying cocalc-plus to the remote failed", r);
    const failed = /npm install (\S+) failed:/.exec(r.stderr);
    if (r.code === 5 && failed && err.code === "ERR_REMOTE_SSH") {
      const k = key(target);
      throw new CocalcError(
        "ERR_REMOTE_PLATFORM",
        `installing ${failed[1]} for ${k} on the remote with npm failed: this cocalc-plus carries no ${k} build of it, and npm needs the npm registry there and, where it has no prebuilt binary, a C++ toolchain (python3, make, g++); install those on the remote, or run cocalc-plus ssh from a ${k} machine`,
        { sshOutput: r.stderr.trim().split("\n").slice(-15).join("\n") },
      );
    }
    if (err.code === "ERR_REMOTE_SSH")
      throw new CocalcError("ERR_REMOTE_INSTALL", err.message, err.details);
    throw err;
  }
  const tarCode = await tarDone;
  if (tarCode !== 0) {
    throw new CocalcError("ERR_REMOTE_INSTALL", `packing the bundle failed: ${tarErr.trim()}`);
  }
  onProgress(bytes);
  const said = new Set(
    r.stdout
      .split("\n")
      .filter((l) => l.startsWith(`${OPTIONAL_MISSING} `))
      .map((l) => l.slice(OPTIONAL_MISSING.length + 1).trim()),
  );
  return {
    missing: (remote?.fromRegistry ?? []).filter((m) => said.has(`${m.name}@${m.version}`)),
  };
}

export interface StartOptions {
  version: string;
  node: string;
  remotePort?: number;
  /** The window title of the remote workspace: the target. */
  title: string;
}

/**
 * Starts the daemon (its token: a 0600 file made on the remote, given by path) and returns
 * its connection info and token, read back over ssh's stdout.
 */
export async function startDaemon(
  ssh: SshClient,
  o: StartOptions,
): Promise<{ info: RemoteConnectionInfo; token: string }> {
  const script = [
    "set -e",
    "umask 077",
    PATH_FIX,
    `d=${INSTALL}/${shq(o.version)}`,
    `s=${SSH_DIR}`,
    'mkdir -p "$s"',
    'if [ ! -s "$s/token" ]; then head -c 64 /dev/urandom | od -An -tx1 | tr -d " \\n" | head -c 48 > "$s/token"; fi',
    'cd "$HOME"',
    'set --; if [ -x "$d/bin/nats-server" ]; then set -- --nats-server "$d/bin/nats-server"; fi',
    // Its errors are kept in memory, not in a file: on a full disk a file would keep nothing.
    `out=$(${shq(o.node)} "$d/dist/bundle/plus.js" --daemon --no-open --bind 127.0.0.1 --port ${o.remotePort ?? 0} --data-dir ${DATA} --token-file "$s/token" --write-connection-info "$s/connection.json" --title ${shq(o.title)} --remote-of ${shq(o.title)} "$@" 2>&1 > /dev/null) || { printf '%s\\n' "$out" >&2; exit 4; }`,
    'echo "conn=$(tr -d "\\n" < "$s/connection.json")"',
    'echo "token=$(cat "$s/token")"',
  ].join("\n");
  const r = await ssh.run(script);
  if (r.code !== 0) {
    const err = sshFailure("the remote cocalc-plus did not start", r);
    if (err.code === "ERR_REMOTE_SSH")
      throw new CocalcError("ERR_REMOTE_DAEMON", err.message, err.details);
    throw err;
  }
  const p = parseProbe(r.stdout);
  if (!p.daemon || !p.token)
    throw new CocalcError("ERR_REMOTE_DAEMON", "the remote cocalc-plus wrote no connection info");
  return { info: p.daemon, token: p.token };
}

/**
 * Stops the daemon gracefully (SIGTERM, up to 15 s, then SIGKILL) and ends its terminals:
 * `cocalc-plus stop --terminals` of the installed version, or the same by hand without one.
 */
export async function stopDaemon(
  ssh: SshClient,
  p: Probe,
): Promise<{ pid?: number; killed: boolean; output: string }> {
  if (!p.daemon) return { killed: false, output: "no cocalc-plus runs on the remote" };
  const pid = p.daemon.pid;
  const plus = `${INSTALL}/${shq(p.daemon.version)}/dist/bundle/plus.js`;
  const script = [
    PATH_FIX,
    `if [ -n "${p.node ?? ""}" ] && [ -f ${plus} ]; then`,
    `  ${shq(p.node ?? "node")} ${plus} stop --terminals --data-dir ${DATA}`,
    "else",
    `  kill -TERM ${pid} 2>/dev/null; i=0`,
    `  while kill -0 ${pid} 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done`,
    `  if kill -0 ${pid} 2>/dev/null; then kill -KILL ${pid}; echo "was killed"; fi`,
    "fi",
    `rm -f ${SSH_DIR}/connection.json`,
  ].join("\n");
  const r = await ssh.must("stopping the remote cocalc-plus failed", script);
  return { pid, killed: /was killed/.test(r.stdout), output: r.stdout.trim() };
}
