/**
 * Kernelspecs on the machine, found where Jupyter looks (`jupyter kernelspec list`):
 * $JUPYTER_PATH, the user's data directory, then the system's. The first of a name wins.
 */
import { readdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { CocalcError } from "../../shared/errors.js";
import { KERNELSPEC_NAME, type KernelspecInfo } from "../../shared/kernels.js";

/** A kernelspec as the service starts it. */
export interface Kernelspec extends KernelspecInfo {
  /** The command; `{connection_file}` stands for the connection file's path. */
  argv: string[];
  env: Record<string, string>;
  interruptMode: "signal" | "message";
}

/** The kernels/ directories Jupyter searches, in its order. */
export function kernelspecDirs(env: NodeJS.ProcessEnv = process.env, home = homedir()): string[] {
  const data =
    env.JUPYTER_DATA_DIR || join(env.XDG_DATA_HOME || join(home, ".local", "share"), "jupyter");
  const dirs = [
    ...(env.JUPYTER_PATH ?? "").split(":").filter((d) => d.startsWith("/")),
    data,
    "/usr/local/share/jupyter",
    "/usr/share/jupyter",
  ];
  return [...new Set(dirs)].map((d) => join(d, "kernels"));
}

/** A kernelspec from its kernel.json's text, or undefined when it is not one. */
export function parseSpec(name: string, dir: string, text: string): Kernelspec | undefined {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const argv = raw.argv;
  if (
    !Array.isArray(argv) ||
    argv.length === 0 ||
    !argv.every((a) => typeof a === "string") ||
    argv[0] === ""
  ) {
    return undefined;
  }
  const env: Record<string, string> = {};
  if (raw.env && typeof raw.env === "object") {
    for (const [k, v] of Object.entries(raw.env as Record<string, unknown>)) {
      if (typeof v === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) env[k] = v;
    }
  }
  return {
    name,
    dir,
    argv: argv as string[],
    env,
    displayName: typeof raw.display_name === "string" ? raw.display_name.slice(0, 200) : name,
    language: typeof raw.language === "string" ? raw.language.slice(0, 100) : "",
    interruptMode: raw.interrupt_mode === "message" ? "message" : "signal",
  };
}

/** Every readable kernelspec, sorted by name. */
export async function listKernelspecs(dirs = kernelspecDirs()): Promise<Kernelspec[]> {
  const found = new Map<string, Kernelspec>();
  const pattern = new RegExp(KERNELSPEC_NAME);
  for (const base of dirs) {
    let names: string[];
    try {
      names = await readdir(base);
    } catch {
      continue;
    }
    for (const entry of names.sort()) {
      const name = entry.toLowerCase();
      if (!pattern.test(name) || found.has(name)) continue;
      const dir = join(base, entry);
      const text = await readFile(join(dir, "kernel.json"), "utf8").catch(() => undefined);
      const spec = text === undefined ? undefined : parseSpec(name, dir, text);
      if (spec) found.set(name, spec);
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Valid kernelspec names: the first of a name wins. */
export function validSpecName(entry: string): string | undefined {
  const name = entry.toLowerCase();
  return new RegExp(KERNELSPEC_NAME).test(name) ? name : undefined;
}

/** The kernelspec `name` of `specs`; ERR_KERNEL_SPEC when there is none. */
export async function findKernelspec(
  name: string,
  specs: Promise<Kernelspec[]> = listKernelspecs(),
): Promise<Kernelspec> {
  const spec = (await specs).find((s) => s.name === name);
  if (!spec)
    throw new CocalcError("ERR_KERNEL_SPEC", `no kernelspec named ${JSON.stringify(name)}`);
  return spec;
}
