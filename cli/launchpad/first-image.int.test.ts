/**
 * A hub on one machine makes its own first image: with no image on its host and none in its
 * images directory, `base` is debootstrapped (the real curated build from this machine's apt
 * mirror) and imported on the host, its steps printed as they go.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { freePortRange } from "../../services/runtime/ports.js";
import type { HostView } from "../../shared/launchpad.js";
import { Buckets } from "../../shared/subjects.js";
import {
  type HostMachine,
  hubHostUnsupported,
  setupHostMachine,
  which,
} from "../../test/helpers/launchpad.js";
import { until } from "../../test/helpers/nats.js";
import { startFirstImage } from "./first-image.js";
import { type RunningHub, startHub } from "./hub.js";

const HOST = "firstimg";
const unsupported =
  (await hubHostUnsupported()) ??
  (which("debootstrap") ? undefined : "debootstrap is not installed (apt-get install debootstrap)");
if (unsupported) console.warn(`first image tests skipped: ${unsupported}`);

describe.skipIf(unsupported !== undefined)("the first image", () => {
  let m: HostMachine | undefined;
  let hub: RunningHub | undefined;

  afterAll(async () => {
    await hub?.stop();
    await m?.cleanup();
  });

  it(
    "a hub whose own host has no image builds base with debootstrap, shows each step, and imports it on the host",
    async () => {
      m = await setupHostMachine(HOST, 4096);
      const imagesDir = join(m.dir, "images");
      const lines: string[] = [];
      hub = await startHub(
        {
          command: "hub",
          bind: "127.0.0.1",
          port: await freePortRange([1, 2, 3]),
          allowHosts: [],
          dataDir: join(m.dir, "hub"),
          logLevel: "warn",
          imagesDir,
          localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST, firstImage: true },
        },
        pino({ level: "warn" }),
        (line) => lines.push(line),
      );
      const ended = await until(
        "the first image is made, or says why not",
        async () =>
          lines.find((l) =>
            /^image base: (ready|the build failed|the import failed|not made)/.test(l),
          ),
        20 * 60_000,
      );
      expect(ended, lines.join("\n")).toBe("image base: ready: workspaces can be created with it");
      const steps = lines.filter((l) => l.startsWith("image base: "));
      const at = (re: RegExp) => steps.findIndex((l) => re.test(l));
      // Each step of the build, in order, then the host's own import steps.
      const order = [
        /no image: building/,
        /\[1\/4\] debootstrap/,
        /\[2\/4\]/,
        /\[3\/4\] \d+ MB/,
        /\[4\/4\] built into/,
        /importing it on the local host/,
        /copying image base/,
        /: ready: workspaces/,
      ].map(at);
      expect(
        order.every((i) => i >= 0),
        steps.join("\n"),
      ).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      // The host has it, read-only in its images, with what notebooks and terminals need.
      const kv = await new Kvm(hub.nc).open(Buckets.hosts);
      await until("the host's view lists base", async () =>
        ((await kv.get(HOST))?.json<HostView>().images ?? []).includes("base") ? true : undefined,
      );
      const image = join(m.root, "images", "base");
      expect((await readFile(join(image, "etc", "cocalc-image"), "utf8")).trim()).toBe("base");
      expect(await readdir(join(image, "usr", "lib", "python3", "dist-packages"))).toContain(
        "ipykernel",
      );
      expect((await readFile(join(image, "etc", "passwd"), "utf8")).split("\n")).toContainEqual(
        expect.stringMatching(/^user:x:1000:1000:/),
      );
      // Nothing half-built is left in the images directory.
      expect((await readdir(imagesDir)).filter((n) => n.startsWith("."))).toEqual([]);
    },
    25 * 60_000,
  );

  it("a build that fails says so with what to do, and leaves nothing in the images directory", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cocalc-first-image-"));
    try {
      const script = join(dir, "fail.sh");
      await writeFile(
        script,
        'echo "[1/4] debootstrap (a test)"; echo "E: no mirror" >&2; exit 3\n',
      );
      const imagesDir = join(dir, "images");
      const lines: string[] = [];
      const first = startFirstImage({
        // Never reached: the build fails first.
        nc: undefined as never,
        hostId: HOST,
        hostRoot: join(dir, "host"),
        imagesDir,
        log: pino({ level: "silent" }),
        progress: (l) => lines.push(l),
        script,
      });
      await first.done;
      expect(lines[0]).toMatch(/^image base: the local host has no image: building one/);
      expect(lines).toContain("image base: [1/4] debootstrap (a test)");
      expect(lines.at(-1)).toMatch(
        /^image base: the build failed \(exit code 3; its last lines are in the log\): build one with deploy\/images\/build-image\.sh base, or start the hub again to retry$/,
      );
      expect(await readdir(imagesDir).catch(() => [])).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
