/**
 * Runs one program of the server bundle (dist/bundle/, CommonJS) with a V8 code cache: each of
 * the bundle's own files is compiled by vm.Script with the bytecode a previous start left in
 * dist/bundle/code-cache/, so the functions a start runs need not be parsed and compiled again.
 * That saves about 120 ms of CPU per start of plus on Node 20 (ES modules cannot take a code
 * cache there; Node 22's module.enableCompileCache does this for them).
 *
 * A file's cache is written when it had none or V8 refused it (another Node version, other
 * V8 flags): by the build's training run (scripts/code-cache.ts), else after a start, when the
 * folder is writable. Everything outside the bundle's folder loads as usual.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createRequire, Module } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { constants, Script } from "node:vm";

type Loader = (module: NodeJS.Module, filename: string) => void;
type CompiledModule = (
  exports: unknown,
  require: NodeJS.Require,
  module: NodeJS.Module,
  filename: string,
  dirname: string,
) => void;

/** The folder next to the bundle's files that holds their code caches. */
export const CODE_CACHE_DIR = "code-cache";

// Node's own CommonJS wrapper, its head on a line of its own (lineOffset -1) so positions in
// stack traces stay those of the file.
const WRAPPER_HEAD = "(function (exports, require, module, __filename, __dirname) {\n";

/** A bundle file compiled without a usable cache: its cache is still to be written. */
interface Uncached {
  script: Script;
  file: string;
  stamp: string;
}

const uncached: Uncached[] = [];

/**
 * V8 checks a cache against the source's length only; the file's size and mtime in front of
 * the bytecode make an edited or rebuilt file miss instead of running stale code.
 */
function stampOf(filename: string): string {
  const s = statSync(filename);
  return `${s.size}:${s.mtimeMs}\n`;
}

function cachedBytecode(file: string, stamp: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return undefined;
  }
  const head = Buffer.from(stamp);
  return data.subarray(0, head.length).equals(head) ? data.subarray(head.length) : undefined;
}

function compile(module: NodeJS.Module, filename: string, dir: string): void {
  let source = readFileSync(filename, "utf8");
  // An entry's hashbang is valid only at the very start of a script.
  if (source.startsWith("#!")) source = `//${source.slice(2)}`;
  const file = join(dir, CODE_CACHE_DIR, basename(filename));
  const stamp = stampOf(filename);
  const cachedData = cachedBytecode(file, stamp);
  const script = new Script(`${WRAPPER_HEAD}${source}\n})`, {
    filename,
    lineOffset: -1,
    ...(cachedData && { cachedData }),
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (!cachedData || script.cachedDataRejected) uncached.push({ script, file, stamp });
  const compiled = script.runInThisContext() as CompiledModule;
  compiled.call(module.exports, module.exports, createRequire(filename), module, filename, dir);
}

/** Loads `main` (a file name in the bundle's folder) the way this module describes. */
export function runBundled(main: string): void {
  const dir = dirname(fileURLToPath(import.meta.url));
  const extensions = (Module as unknown as { _extensions: Record<string, Loader> })._extensions;
  const loadJs = extensions[".js"]!;
  extensions[".js"] = (module, filename) => {
    if (dirname(filename) === dir) compile(module, filename, dir);
    else loadJs(module, filename);
  };
  // Short commands (--version, stop) and programs that never call saveCodeCache get theirs
  // at exit.
  process.once("exit", saveCodeCache);
  createRequire(import.meta.url)(join(dir, main));
}

/**
 * Writes the code cache of every bundle file that had none, with what has been compiled so
 * far: called once a start is done, it holds the start's functions. Synchronous, because it
 * also runs at exit; a folder that cannot be written is left alone.
 */
export function saveCodeCache(): void {
  for (const u of uncached.splice(0)) {
    try {
      mkdirSync(dirname(u.file), { recursive: true });
      const tmp = `${u.file}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([Buffer.from(u.stamp), u.script.createCachedData()]));
      renameSync(tmp, u.file);
    } catch {
      return;
    }
  }
}
