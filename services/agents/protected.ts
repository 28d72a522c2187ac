/**
 * What an agent must never reach outside full access: plus's data directory (the services'
 * NATS key, the stored API keys, ssh control sockets, session tokens, the event store), the
 * secret files plus writes elsewhere (connection-info and token files), and the usual
 * credential folders. The same list is refused to the ACP file requests plus serves for the
 * agent (checked on the real path) and hidden from everything it runs in bubblewrap.
 */
import { lstat, mkdir, realpath } from "node:fs/promises";
import { join } from "node:path";
import { CocalcError } from "../../shared/errors.js";
import { isInside, joinPath, nameOf, normalize, parentOf } from "../../shared/paths.js";

/** One protected path and why it is protected (said in the refusal). */
export interface ProtectedPath {
  path: string;
  why: string;
  /** A folder (else a single file or socket). */
  folder: boolean;
}

/** A protected path as it is on disk now. */
export interface ProtectedEntry extends ProtectedPath {
  /** The canonical path (symlinks followed; for a missing path: through its nearest existing parent). */
  real: string;
  kind: "dir" | "file" | "missing";
}

export interface ProtectionOptions {
  dataDir: string;
  home: string;
  /** Secret files plus wrote outside the data directory (connection-info and token files). */
  secretFiles?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/** Every path a confined agent must not reach, for this plus. */
export function protectedPaths(o: ProtectionOptions): ProtectedPath[] {
  const env = o.env ?? process.env;
  const config = env.XDG_CONFIG_HOME || join(o.home, ".config");
  const data = env.XDG_DATA_HOME || join(o.home, ".local", "share");
  const list: ProtectedPath[] = [
    {
      path: o.dataDir,
      why: "is plus's data directory (its keys, tokens and event store)",
      folder: true,
    },
    // Another instance's data (the default place) holds the same kind of keys.
    { path: join(data, "cocalc-plus"), why: "holds the data of cocalc-plus", folder: true },
    { path: join(config, "cocalc-plus"), why: "is plus's configuration", folder: true },
    {
      path: join(config, "nats"),
      why: "holds NATS contexts (plus's services key among them)",
      folder: true,
    },
    { path: join(data, "nats"), why: "holds NATS credentials and keys", folder: true },
    { path: join(o.home, ".ssh"), why: "holds ssh keys", folder: true },
    { path: join(o.home, ".gnupg"), why: "holds GnuPG keys", folder: true },
    ...(o.secretFiles ?? []).map((path) => ({
      path,
      why: "holds a token of plus",
      folder: false,
    })),
  ];
  // The user's session bus starts programs outside any sandbox (systemd-run --user), and
  // keyrings and agents listen there.
  if (env.XDG_RUNTIME_DIR) {
    list.push({
      path: env.XDG_RUNTIME_DIR,
      why: "holds the session bus and key agents",
      folder: true,
    });
  }
  if (env.SSH_AUTH_SOCK)
    list.push({ path: env.SSH_AUTH_SOCK, why: "is the ssh agent", folder: false });
  const seen = new Set<string>();
  return list.flatMap((p) => {
    const path = normalize(p.path);
    if (seen.has(path)) return [];
    seen.add(path);
    return [{ ...p, path }];
  });
}

/** The real path of `path`, also when it does not exist yet (its nearest existing parent, resolved). */
export async function realOrNearest(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    if (path === "/") return "/";
    return joinPath(await realOrNearest(parentOf(path)), nameOf(path));
  }
}

/** The protected paths as they are now: canonical, with what is there. */
export async function resolveProtected(list: readonly ProtectedPath[]): Promise<ProtectedEntry[]> {
  return Promise.all(
    list.map(async (p) => {
      const real = await realOrNearest(p.path);
      const st = await lstat(real).catch(() => undefined);
      const kind: ProtectedEntry["kind"] = !st ? "missing" : st.isDirectory() ? "dir" : "file";
      return { ...p, real, kind };
    }),
  );
}

/** The paths to deny, lexical and canonical forms both. */
export function deniedPaths(entries: readonly ProtectedEntry[]): string[] {
  return [...new Set(entries.flatMap((e) => [e.path, e.real]))];
}

/** The refusal of `asked` (which really is `real`) because it is or lies inside `denied`. */
export function protectedError(
  entries: readonly ProtectedEntry[],
  asked: string,
  real: string,
  denied: string,
): CocalcError {
  const e = entries.find((x) => x.path === denied || x.real === denied);
  const where = real === asked ? asked : `${asked} (really ${real})`;
  return new CocalcError(
    "ERR_AGENT_PROTECTED_PATH",
    `${where} is protected from agents outside full access: ${denied} ${e?.why ?? "holds secrets"}`,
  );
}

/** Refuses `real` (what `asked` resolves to) when it is protected. */
export function checkNotProtected(
  entries: readonly ProtectedEntry[],
  asked: string,
  real: string,
): void {
  for (const denied of deniedPaths(entries)) {
    if (isInside(real, denied)) throw protectedError(entries, asked, real, denied);
  }
}

/**
 * Creates the protected folders that do not exist yet and lie under a folder a confined
 * process may write (empty, 0700, as their own programs would make them), so that they can
 * be hidden: otherwise such a process could create one and put something there.
 */
export async function makeMissingDirs(
  entries: readonly ProtectedEntry[],
  writable: readonly string[],
): Promise<ProtectedEntry[]> {
  return Promise.all(
    entries.map(async (e) => {
      if (e.kind !== "missing" || !e.folder || !writable.some((w) => isInside(e.real, w))) return e;
      await mkdir(e.real, { recursive: true, mode: 0o700 });
      return { ...e, kind: "dir" as const };
    }),
  );
}

/** The resolver option that refuses the protected paths with their reason. */
export function resolverDeny(entries: readonly ProtectedEntry[]) {
  return {
    paths: deniedPaths(entries),
    refuse: (asked: string, real: string, denied: string) =>
      protectedError(entries, asked, real, denied),
  };
}
