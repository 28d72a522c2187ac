/**
 * The layering check, run by `npm run build`:
 * - shared/ imports only shared/ and pure packages (no Node builtins, no DOM: the second half
 *   is enforced by compiling shared/ against shared/tsconfig.json, which has neither);
 * - a service imports shared/, streams/ and services/runtime/, never another service;
 * - web/ imports only web/, shared/ and packages; streams/ only shared/ and packages;
 * - in web/, a component (a .tsx file) never talks to NATS itself: `@nats-io/*` is for the
 *   stores, sessions and connections (.ts files), which components use;
 * - in cli/, plus/ and launchpad/ import common/ (and bin/), never each other; common/ imports
 *   neither;
 * - cli/ has no import circle (type-only imports count too: a circle is a knot for the reader
 *   whether or not it survives compilation).
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
  "croner",
  "diff-match-patch",
  "lossless-json",
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

/** Relative specifiers of one file's imports and re-exports. */
function specifiers(text: string): string[] {
  return [...text.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** A module a relative specifier names: `./x.js` is the source file `./x.ts` (or `.tsx`). */
function sourceOf(file: string, spec: string): string {
  const target = resolve(dirname(file), spec);
  for (const ts of [target.replace(/\.js$/, ".ts"), target.replace(/\.js$/, ".tsx")])
    if (existsSync(ts)) return ts;
  return target;
}

/**
 * The import circles among `all`: one per strongly connected component (Tarjan), each shown
 * as a shortest path that returns to its start, with the component's files when it has more.
 */
function circles(root: string, all: string[]): string[] {
  const inside = new Set(all);
  const edges = new Map<string, string[]>();
  for (const file of all) {
    const out = specifiers(readFileSync(file, "utf8"))
      .filter((s) => s.startsWith("."))
      .map((s) => sourceOf(file, s))
      .filter((t) => inside.has(t));
    edges.set(file, [...new Set(out)].sort());
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = new Set<string>();
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      component.add(w);
      if (w === v) break;
    }
    if (component.size === 1 && !edges.get(v)!.includes(v)) return;
    const path = cycleThrough(v, component, edges).map((f) => relative(root, f));
    const knot =
      component.size > path.length - 1
        ? ` (one knot of ${component.size}: ${[...component]
            .map((f) => relative(root, f))
            .sort()
            .join(", ")})`
        : "";
    found.push(`${path.join(" → ")}${knot}`);
  };
  for (const file of [...all].sort()) if (!index.has(file)) visit(file);
  return found;
}

/** A shortest path from `start` back to itself inside one component (breadth first). */
function cycleThrough(start: string, component: Set<string>, edges: Map<string, string[]>) {
  const from = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of edges.get(v)!) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = from.get(u)!) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

function area(root: string, file: string): string[] {
  return relative(root, file).split(sep);
}

export function violations(root = ROOT): string[] {
  const problems: string[] = [];
  for (const top of ["shared", "services", "streams", "web", "cli"]) {
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
      for (const spec of specifiers(text)) {
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
          if (
            from[0] === "cli" &&
            tTop === "cli" &&
            (tSub === "plus" || tSub === "launchpad") &&
            tSub !== from[1]
          )
            problems.push(`${rel}: cli/${from[1]} imports ${spec} (share it through cli/common/)`);
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
  let cli: string[] = [];
  try {
    cli = files(join(root, "cli"));
  } catch {}
  for (const circle of circles(root, cli)) problems.push(`cli/ has an import circle: ${circle}`);
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = violations();
  if (problems.length > 0) {
    console.error(`layering check failed:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
}
