import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { CocalcError } from "../../shared/errors.js";
import {
  bundleTarArgs,
  checkRunnable,
  nativeLayout,
  nodePlatform,
  packageDir,
  parseProbe,
} from "./remote-host.js";
import { redact, sshFailure } from "./ssh.js";

const code = (f: () => void) => {
  try {
    f();
  } catch (err) {
    return [(err as CocalcError).code, (err as Error).message] as const;
  }
  return undefined;
};

describe("remote probe", () => {
  const out = [
    "os=Linux",
    "arch=x86_64",
    "home=/home/a",
    "node=/usr/bin/node",
    "nodev=v22.1.0",
    "installed=0.1.0 abc123",
    'conn={  "port": 4000,  "pid": 77,  "version": "0.1.0",  "started": "2026-01-01T00:00:00Z"}',
    "token=abc",
  ].join("\n");

  it("reads OS, CPU, Node, installs, a running daemon and its token", () => {
    expect(parseProbe(out)).toEqual({
      os: "Linux",
      arch: "x86_64",
      home: "/home/a",
      node: "/usr/bin/node",
      nodeVersion: "v22.1.0",
      versions: ["0.1.0"],
      builds: { "0.1.0": "abc123" },
      daemon: { port: 4000, pid: 77, version: "0.1.0", started: "2026-01-01T00:00:00Z" },
      token: "abc",
    });
    expect(parseProbe("os=Linux\narch=x86_64\nnode=\nconn={half").daemon).toBeUndefined();
  });

  it("says in words when plus cannot run there", () => {
    const local = { platform: "linux", arch: "x64" };
    const p = parseProbe(out);
    expect(code(() => checkRunnable(p, local))).toBeUndefined();
    expect(code(() => checkRunnable({ ...p, node: undefined }, local))?.[0]).toBe(
      "ERR_REMOTE_NO_NODE",
    );
    expect(code(() => checkRunnable({ ...p, nodeVersion: "v18.0.0" }, local))?.[1]).toMatch(
      /too old/,
    );
    expect(code(() => checkRunnable({ ...p, os: "FreeBSD" }, local))?.[1]).toMatch(
      /unsupported OS\/arch: the remote is FreeBSD x86_64/,
    );
    expect(nodePlatform("Darwin", "arm64")).toEqual({ platform: "darwin", arch: "arm64" });
  });
});

describe("ssh failures", () => {
  const f = (stderr: string) => sshFailure("cannot connect", { code: 255, stderr, stdout: "" });
  it("names the cause and keeps the output", () => {
    expect(f("a@h: Permission denied (publickey).").code).toBe("ERR_REMOTE_AUTH");
    expect(f("ssh: Could not resolve hostname x: Name or service not known").message).toMatch(
      /host unreachable/,
    );
    expect(f("ssh: connect to host h port 1: Connection refused").code).toBe(
      "ERR_REMOTE_UNREACHABLE",
    );
    // A proxy or network that closes at once: both of the ways ssh words it.
    expect(f("kex_exchange_identification: Connection closed by remote host").code).toBe(
      "ERR_REMOTE_UNREACHABLE",
    );
    expect(f("banner exchange: Connection to UNKNOWN port 65535: Broken pipe").code).toBe(
      "ERR_REMOTE_UNREACHABLE",
    );
    expect(f("something odd").code).toBe("ERR_REMOTE_SSH");
    expect(f("x").details?.sshOutput).toBe("x");
  });
  it("never keeps a token in what it shows", () => {
    expect(redact("ready: http://127.0.0.1:1/?token=abcDEF_-1")).toBe(
      "ready: http://127.0.0.1:1/?token=[secret]",
    );
  });
});

describe("native modules to copy", () => {
  it("are found where Node finds them: inside the package or beside it (npx, npm -g)", () => {
    const top = mkdtempSync(join(tmpdir(), "cocalc-pkgdir-"));
    try {
      const root = join(top, "node_modules", "cocalc-ai");
      for (const dir of [
        root,
        join(top, "node_modules", "node-pty"),
        join(root, "node_modules", "bindings"),
      ]) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "package.json"), "{}");
      }
      expect(packageDir(root, "node-pty")).toBe(join(top, "node_modules", "node-pty"));
      expect(packageDir(root, "bindings")).toBe(join(root, "node_modules", "bindings"));
      expect(packageDir(root, "no-such-module")).toBeUndefined();
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });
});

describe("the packed bundle", () => {
  it("holds the bundle, the web app and native modules, but not this machine's code cache", () => {
    const root = mkdtempSync(join(tmpdir(), "cocalc-pack-"));
    try {
      for (const dir of [
        "dist/bundle/code-cache",
        "dist/web",
        "node_modules/node-pty/lib",
        "node_modules/node-pty/build/Release",
      ]) {
        mkdirSync(join(root, dir), { recursive: true });
      }
      for (const f of [
        "package.json",
        "dist/bundle/plus.js",
        "dist/bundle/code-cache/plus.js",
        "dist/web/index.html",
        "node_modules/node-pty/package.json",
        "node_modules/node-pty/lib/index.js",
        "node_modules/node-pty/build/Release/pty.node",
      ]) {
        writeFileSync(join(root, f), "x");
      }
      const listing = execFileSync("sh", [
        "-c",
        'tar "$@" | tar -tzf -',
        "tar",
        ...bundleTarArgs({ version: "0.0.0", root }),
      ])
        .toString()
        .split("\n");
      expect(listing).toContain("dist/bundle/plus.js");
      expect(listing).toContain("dist/web/index.html");
      expect(listing).toContain("node_modules/node-pty/lib/index.js");
      expect(listing).toContain("node_modules/node-pty/build/Release/pty.node");
      expect(listing.filter((f) => f.includes("code-cache"))).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("a remote of another platform", () => {
  // This package's own node_modules: the modules and prebuilt binaries npm installed here.
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const linuxX64 = { platform: "linux", arch: "x64" };
  const arm = parseProbe(
    "os=Linux\narch=aarch64\nhome=/h\nnode=/usr/bin/node\nnodev=v20.1.0\nnats=/usr/bin/nats-server\nnpm=/usr/bin/npm",
  );
  const names = (ms: { name: string }[]) => ms.map((m) => m.name);

  it.skipIf(process.platform !== "linux" || process.arch !== "x64")(
    "gets the modules this package carries no build of from npm, and says what is missing",
    () => {
      const plan = checkRunnable(arm, linuxX64, root);
      // zeromq ships every platform's binary; node-pty and better-sqlite3 are built here only.
      expect(names(plan)).toEqual(["node-pty", "better-sqlite3"]);
      expect(plan[0]).toMatchObject({ required: true, version: expect.stringMatching(/^\d+\./) });
      expect(plan[1]!.required).toBe(false);
      expect(code(() => checkRunnable({ ...arm, natsServer: undefined }, linuxX64, root))).toEqual([
        "ERR_REMOTE_PLATFORM",
        expect.stringMatching(
          /^no nats-server for linux-arm64 on the remote: the remote is Linux aarch64 \(linux-arm64\), this machine linux-x64.*apt-get install nats-server.*brew install nats-server/,
        ),
      ]);
      expect(code(() => checkRunnable({ ...arm, npm: undefined }, linuxX64, root))?.[1]).toMatch(
        /^no npm on the remote to install node-pty@\S+ for linux-arm64/,
      );
      // The same platform needs nothing from anywhere.
      expect(
        checkRunnable({ ...arm, arch: "x86_64", natsServer: undefined }, linuxX64, root),
      ).toEqual([]);
    },
  );

  it.skipIf(process.platform !== "linux" || process.arch !== "x64")(
    "packs for a Mac the prebuilt binaries the package ships, and not this machine's",
    () => {
      const mac = nativeLayout(root, { platform: "darwin", arch: "arm64" }, linuxX64);
      expect(mac.members).toContain("node-pty/prebuilds/darwin-arm64");
      expect(mac.members).toContain("zeromq/build/darwin/arm64");
      expect(mac.members).toContain("cmake-ts/build");
      expect(mac.members.join(" ")).not.toMatch(/build\/Release|build\/linux/);
      expect(names(mac.fromRegistry)).toEqual(["better-sqlite3"]);
      const here = nativeLayout(root, linuxX64, linuxX64);
      expect(here.members).toContain("node-pty/build/Release");
      expect(here.members).toContain("zeromq/build/linux/x64");
      expect(here.members).toContain("better-sqlite3/build/Release/better_sqlite3.node");
      expect(here.fromRegistry).toEqual([]);
      // nats-server goes along to a remote of this machine's platform only.
      const bundle = { version: "0", root, natsServer: "/usr/bin/nats-server" };
      expect(bundleTarArgs(bundle, linuxX64).join(" ")).toContain("usr/bin/nats-server");
      expect(bundleTarArgs(bundle, { platform: "darwin", arch: "arm64" }).join(" ")).not.toContain(
        "nats-server",
      );
    },
  );
});
