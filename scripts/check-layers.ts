/**
 * The layering check, run by `npm run build`:
 * - shared/ imports only shared/ and pure packages (no Node builtins, no DOM: the second half
 *   is enforced by compiling shared/ against shared/tsconfig.json, which has neither);
 * - a service imports shared/, streams/ and services/runtime/, never another service;
 * - web/ imports only web/, shared/ and packages; streams/ only shared/ and packages;
 * - in web/, a component (a .tsx file) never talks to NATS itself: `@nats-io/*` is for the
 *   stores, sessions and connections (.ts files), which components use.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout: the nearest folder above this file that has a package.json (from dist/ or not). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const ROOT = findRoot();
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const SHARED_PACKAGES = new Set([
  "@sinclair/typebox",
  "@sinclair/typebox/value",
  "@sinclair/typebox/compiler",
  "diff-match-patch",
]);
const IMPORT =
  /(?:^|\s|;)(?:import|export)\s[^'"`]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s+["']([^"']+)["']/gm;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist") continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (/\.(ts|tsx)$/.test(name) && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

function area(root: string, file: string): string[] {
  return relative(root, file).split(sep);
}

export function violations(root = ROOT): string[] {
  const problems: string[] = [];
  for (const top of ["shared", "services", "streams", "web"]) {
    let all: string[];
    try {
      all = files(join(root, top));
    } catch {
      continue;
    }
    for (const file of all) {
      const rel = relative(root, file);
      const isTest = /\.test\.tsx?$/.test(file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[1] ?? m[2] ?? m[3]!;
        const from = area(root, file);
        if (spec.startsWith(".")) {
          const target = area(root, resolve(dirname(file), spec));
          const [tTop, tSub] = target;
          if (isTest && tTop === "test") continue;
          if (from[0] === "shared" && tTop !== "shared")
            problems.push(`${rel}: shared/ imports ${spec}`);
          if (from[0] === "streams" && tTop !== "streams" && tTop !== "shared")
            problems.push(`${rel}: streams/ imports ${spec}`);
          if (from[0] === "web" && tTop !== "web" && tTop !== "shared")
            problems.push(`${rel}: web/ imports ${spec}`);
          if (from[0] === "services") {
            const ok =
              tTop === "shared" ||
              tTop === "streams" ||
              (tTop === "services" && (tSub === from[1] || tSub === "runtime"));
            if (!ok) problems.push(`${rel}: service ${from[1]} imports ${spec}`);
          }
        } else if (from[0] === "shared" && !isTest) {
          if (BUILTINS.has(spec) || spec.startsWith("node:"))
            problems.push(`${rel}: shared/ imports Node module ${spec}`);
          else if (!SHARED_PACKAGES.has(spec))
            problems.push(
              `${rel}: shared/ imports package ${spec}, which is not on the list of pure packages`,
            );
        } else if (
          from[0] === "web" &&
          !/\.config\.ts$/.test(file) &&
          (BUILTINS.has(spec) || spec.startsWith("node:"))
        ) {
          problems.push(`${rel}: web/ imports Node module ${spec}`);
        } else if (from[0] === "web" && file.endsWith(".tsx") && spec.startsWith("@nats-io/")) {
          problems.push(`${rel}: a component imports ${spec} (NATS belongs in a store or lib/)`);
        }
      }
    }
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = violations();
  if (problems.length > 0) {
    console.error(`layering check failed:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
}
