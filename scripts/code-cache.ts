/**
 * The build's training run: starts the freshly bundled plus once (temp data dir, free port, no
 * browser) and stops it, so dist/bundle/code-cache/ holds the bytecode of everything a start
 * runs (see cli/bin/load-bundled.ts). Without nats-server the build goes on without it; the
 * first start writes it then.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const TIMEOUT_MS = 60_000;

function bundleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, "dist", "bundle");
}

async function train(bundle: string): Promise<string | undefined> {
  const tmp = await mkdtemp(join(tmpdir(), "cocalc-code-cache-"));
  try {
    const child = spawn(
      process.execPath,
      [join(bundle, "plus.js"), "--no-open", "--port", "0", "--data-dir", join(tmp, "data")],
      // plus writes a `nats` CLI context under XDG_CONFIG_HOME; keep it out of the real one.
      { env: { ...process.env, XDG_CONFIG_HOME: join(tmp, "config") }, stdio: "pipe" },
    );
    let output = "";
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const ready = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("cocalc-plus ready:")) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      void exited.then(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    const started = await ready;
    child.kill("SIGTERM");
    await exited;
    return started ? undefined : output.trim().split("\n").slice(-5).join("\n");
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

const bundle = bundleDir();
const failure = await train(bundle);
if (failure !== undefined) {
  console.warn(`code cache: plus did not start, so the first start will write it:\n${failure}`);
} else {
  const files = readdirSync(join(bundle, "code-cache"));
  console.log(`code cache: ${files.length} files in dist/bundle/code-cache/`);
}
