/**
 * How a confined agent process and the commands it runs are started: bubblewrap with the
 * file system read-only, the working directory writable in workspace-write, plus's secrets
 * and the credential folders hidden, and (unless the thread allows network) a network
 * namespace of their own, so nothing on this machine's loopback (the gateway, nats-server)
 * or local network can be reached. An agent process without network still reaches its
 * model's API: through plus's egress proxy (services/agents/egress.ts), which lets HTTP(S)
 * go to public addresses only.
 */
import { spawnSync } from "node:child_process";
import { isAbsolute } from "node:path";
import type { AgentMode } from "../../shared/agents.js";
import { CocalcError } from "../../shared/errors.js";
import { isInside, parentOf } from "../../shared/paths.js";
import { EGRESS_IN_SANDBOX, egressRelayArgv } from "./egress.js";
import type { ProtectedEntry } from "./protected.js";

const probes = new Map<string, boolean>();
function probe(extra: string[]): boolean {
  const key = extra.join(" ");
  let ok = probes.get(key);
  if (ok === undefined) {
    const r = spawnSync(
      "bwrap",
      ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", ...extra, "--", "/bin/true"],
      { stdio: "ignore", timeout: 10_000 },
    );
    ok = r.status === 0;
    probes.set(key, ok);
  }
  return ok;
}

/** Whether bubblewrap is installed and can create the namespaces it needs here. */
export function bubblewrapAvailable(): boolean {
  return probe([]);
}

/** Whether bubblewrap can also give a process a network namespace of its own here. */
export function networkIsolationAvailable(): boolean {
  return bubblewrapAvailable() && probe(["--unshare-net"]);
}

/** What else a confined process may write, what it must not see, and what network it has. */
export interface Confinement {
  /** Writable in both modes if they exist (an agent's own state, e.g. ~/.codex). */
  writable?: readonly string[];
  /** Hidden: folders become empty, files read as empty and cannot be written. */
  hidden?: readonly ProtectedEntry[];
  /**
   * "host": the machine's network; "none": a namespace with only its own loopback; or that
   * plus the egress proxy's socket (for the agent process, which must reach its API).
   */
  network?: "host" | "none" | { egress: string };
  /** Where the command starts (default: the working directory). */
  chdir?: string;
}

/** The argv that runs `command args` confined for `mode` (no confinement in full access). */
export function sandboxed(
  mode: AgentMode,
  workdir: string,
  command: string,
  args: string[],
  c: Confinement = {},
): { argv: string[]; sandbox: "none" | "bwrap" | "bwrap-read-only" } {
  if (mode === "full-access") return { argv: [command, ...args], sandbox: "none" };
  const network = c.network ?? "none";
  if (!bubblewrapAvailable() || (network !== "host" && !networkIsolationAvailable())) {
    throw new CocalcError(
      mode === "read-only" ? "ERR_AGENT_READ_ONLY" : "ERR_AGENT_OUTSIDE_WORKDIR",
      bubblewrapAvailable()
        ? `commands in ${mode} mode without network run in a network namespace of their own, which bubblewrap cannot create here; allow network in the thread settings, or use full access`
        : `commands in ${mode} mode run in bubblewrap, which is not available here (apt-get install bubblewrap); use full access to run them unconfined`,
    );
  }
  const base = [
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
    ...(network === "host" ? [] : ["--unshare-net"]),
    "--die-with-parent",
    "--new-session",
  ];
  let argv = [command, ...args];
  if (typeof network === "object") argv = egressRelayArgv(process.execPath, argv);
  // The fresh /tmp would hide a program that lives under /tmp (a checkout or an unpacked
  // package there): its folder stays visible, read-only.
  const program = argv
    .filter((a) => isAbsolute(a) && a.startsWith("/tmp/") && a !== EGRESS_IN_SANDBOX)
    .map((a) => `/tmp/${a.split("/")[2]}`);
  const readable = [...new Set(program)].flatMap((p) => ["--ro-bind-try", p, p]);
  const writable =
    mode === "workspace-write" ? ["--bind", workdir, workdir] : ["--ro-bind", workdir, workdir];
  const extra = (c.writable ?? []).flatMap((p) => ["--bind-try", p, p]);
  const hidden = outermost((c.hidden ?? []).filter((e) => e.kind !== "missing" && e.real !== "/"));
  const egress = typeof network === "object" ? ["--bind", network.egress, EGRESS_IN_SANDBOX] : [];
  return {
    argv: [
      "bwrap",
      ...base,
      ...readable,
      ...writable,
      // Before anything is mounted inside them.
      ...(mode === "workspace-write" ? pinned(hidden, workdir) : []),
      ...extra,
      ...hiding(hidden),
      ...egress,
      "--chdir",
      c.chdir ?? workdir,
      "--",
      ...argv,
    ],
    sandbox: mode === "workspace-write" ? "bwrap" : "bwrap-read-only",
  };
}

/**
 * Under the writable working directory, each folder between it and a hidden path is bound
 * onto itself: a mount point cannot be renamed or removed, so a hidden folder cannot be
 * moved away from the place where the next sandbox hides it (its contents stay writable).
 */
function pinned(hidden: readonly ProtectedEntry[], workdir: string): string[] {
  const pins = new Set<string>();
  for (const e of hidden) {
    if (e.real === workdir || !isInside(e.real, workdir)) continue;
    for (let p = parentOf(e.real); p !== workdir && isInside(p, workdir); p = parentOf(p)) {
      pins.add(p);
    }
  }
  return [...pins].sort((a, b) => a.length - b.length).flatMap((p) => ["--bind", p, p]);
}

/** Hidden folders become an empty read-only tmpfs; hidden files (and sockets) /dev/null, read-only. */
function hiding(hidden: readonly ProtectedEntry[]): string[] {
  return hidden.flatMap((e) =>
    e.kind === "dir"
      ? ["--tmpfs", e.real, "--remount-ro", e.real]
      : ["--ro-bind", "/dev/null", e.real],
  );
}

/** Each path once, without those inside another hidden folder (hidden with it). */
function outermost(hidden: readonly ProtectedEntry[]): ProtectedEntry[] {
  const outer = hidden.filter(
    (e) => !hidden.some((o) => o.kind === "dir" && o.real !== e.real && isInside(e.real, o.real)),
  );
  return [...new Map(outer.map((e) => [e.real, e])).values()];
}
