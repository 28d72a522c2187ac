/**
 * The first image of a hub that runs its own host. When neither that host nor the hub's images
 * directory has an image, `base` is built with deploy/images/build-image.sh (debootstrap from
 * this machine's apt mirror: a few minutes, its steps printed as they go) into the images
 * directory and imported on the host through the fleet, so that people can create workspaces
 * without an operator's step. A build cut short (the hub stopped) leaves nothing behind but a
 * `.build-*` folder, removed by the next start.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { access, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../../services/runtime/logger.js";
import { requestWithProgress } from "../../services/runtime/progress.js";
import { errorText, parseReply } from "../../shared/command-client.js";
import { FleetSubjects } from "../../shared/subjects.js";

export const FIRST_IMAGE = "base";

/** The script that builds curated images, next to the bundle or the sources. */
export const BUILD_IMAGE_SCRIPT = fileURLToPath(
  new URL("../../deploy/images/build-image.sh", import.meta.url),
);

/** A debootstrap line at most this often while a step runs (it prints hundreds). */
const DETAIL_EVERY_MS = 10_000;

export interface FirstImageOptions {
  nc: NatsConnection;
  hostId: string;
  /** The host's btrfs root: its images are `<root>/images/<name>`. */
  hostRoot: string;
  imagesDir: string;
  log: Logger;
  progress(line: string): void;
  script?: string;
}

async function names(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [])).filter((n) => !n.startsWith("."));
}

/**
 * Builds and imports the first image in the background when the host has none; `done` says
 * how it ended (never rejects: a failure is printed with what to do), `stop` ends a build.
 */
export function startFirstImage(o: FirstImageOptions): {
  done: Promise<void>;
  stop(): Promise<void>;
} {
  let child: ChildProcess | undefined;
  let stopped = false;
  const say = (line: string) => o.progress(`image ${FIRST_IMAGE}: ${line}`);
  const done = (async () => {
    if ((await names(join(o.hostRoot, "images"))).length > 0) return;
    const into = join(o.imagesDir, FIRST_IMAGE);
    const isRootfs = (dir: string) =>
      access(join(dir, "bin")).then(
        () => true,
        () => false,
      );
    const sources = await names(o.imagesDir);
    const built = await isRootfs(into);
    // Others to import on demand: placement brings them to the host.
    if (!built && sources.length > 0) return;
    if (!built) {
      if (spawnSync("sh", ["-c", "command -v debootstrap"], { stdio: "ignore" }).status !== 0) {
        say(
          "the local host has no image and debootstrap is not installed (apt-get install debootstrap, then start again), or import one: cocalc-launchpad image import NAME DIR",
        );
        return;
      }
      for (const n of await readdir(o.imagesDir).catch(() => []))
        if (n.startsWith(".build-"))
          await rm(join(o.imagesDir, n), { recursive: true, force: true });
      say(
        `the local host has no image: building one with debootstrap into ${into} (a few minutes)`,
      );
      const code = await new Promise<number | null>((resolve) => {
        child = spawn("bash", [o.script ?? BUILD_IMAGE_SCRIPT, FIRST_IMAGE, "--into", into], {
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        });
        let last = 0;
        let tail: string[] = [];
        const onLine = (line: string) => {
          if (line.trim() === "") return;
          tail = [...tail.slice(-19), line];
          o.log.debug({ line }, "first image build");
          // The script's own steps always; debootstrap's lines now and then.
          if (/^\[\d\/\d\]/.test(line) || Date.now() - last >= DETAIL_EVERY_MS) {
            last = Date.now();
            say(line.trim());
          }
        };
        for (const stream of [child.stdout!, child.stderr!]) {
          let buf = "";
          stream.setEncoding("utf8");
          stream.on("data", (s: string) => {
            buf += s;
            const lines = buf.split("\n");
            buf = lines.pop()!;
            for (const l of lines) onLine(l);
          });
        }
        child.on("error", (err) => {
          say(`the build could not start: ${err.message}`);
          resolve(null);
        });
        child.on("close", (c) => {
          if (c !== 0 && !stopped)
            for (const l of tail) o.log.warn({ line: l }, "first image build");
          resolve(c);
        });
      });
      child = undefined;
      if (stopped) return;
      if (code !== 0) {
        say(
          `the build failed (exit code ${code}; its last lines are in the log): build one with deploy/images/build-image.sh ${FIRST_IMAGE}, or start the hub again to retry`,
        );
        return;
      }
    }
    say(`importing it on the local host ${o.hostId}`);
    // The host has only just started: it may not be heard as online yet.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const answer = await requestWithProgress(
        o.nc,
        FleetSubjects.command,
        JSON.stringify({
          type: "ImportImageOnHost",
          data: {
            hostId: o.hostId,
            name: FIRST_IMAGE,
            source: into,
            description: "Debian with curated packages, built at the hub's first start",
          },
        }),
        { timeoutMs: 10 * 60_000, onProgress: (p) => say(p.line) },
      );
      const r = parseReply(answer.string());
      if (r.ok) {
        say("ready: workspaces can be created with it");
        return;
      }
      if (stopped) return;
      if (r.error?.code !== "ERR_HOST_OFFLINE" || Date.now() > deadline) {
        say(`the import failed: ${r.error ? errorText(r.error) : "no answer"}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  })().catch((err: unknown) => {
    if (!stopped) say(`not made: ${(err as Error).message}`);
  });
  return {
    done,
    async stop() {
      stopped = true;
      const c = child;
      if (c?.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
      const closed = new Promise((resolve) => c.once("close", resolve));
      // The script, debootstrap and what runs in its chroot: the whole group.
      const kill = (signal: NodeJS.Signals) => {
        try {
          process.kill(-c.pid!, signal);
        } catch {
          // ended meanwhile
        }
      };
      kill("SIGTERM");
      const hard = setTimeout(() => kill("SIGKILL"), 10_000);
      await closed;
      clearTimeout(hard);
    },
  };
}
