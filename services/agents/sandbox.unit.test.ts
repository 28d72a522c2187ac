import { describe, expect, it } from "vitest";
import { EGRESS_IN_SANDBOX } from "./egress.js";
import type { ProtectedEntry } from "./protected.js";
import { bubblewrapAvailable, networkIsolationAvailable, sandboxed } from "./sandbox.js";

const entry = (real: string, kind: ProtectedEntry["kind"]): ProtectedEntry => ({
  path: real,
  real,
  kind,
  why: "test",
  folder: kind !== "file",
});

/** The arguments that follow `flag` each time it occurs. */
function after(argv: string[], flag: string, n = 1): string[][] {
  return argv.flatMap((a, i) => (a === flag ? [argv.slice(i + 1, i + 1 + n)] : []));
}

describe.skipIf(!bubblewrapAvailable() || !networkIsolationAvailable())(
  "agent sandbox argv",
  () => {
    if (!bubblewrapAvailable() || !networkIsolationAvailable()) {
      console.warn(
        "sandbox argv tests skipped: bubblewrap cannot create the namespaces it needs here",
      );
    }

    it("a program under /tmp stays visible (read-only) under the fresh /tmp", () => {
      const { argv } = sandboxed("workspace-write", "/home/u/work", process.execPath, [
        "/tmp/checkout/test/fixtures/agent.mjs",
        "--flag",
      ]);
      const tmpfs = argv.indexOf("/tmp", argv.indexOf("--tmpfs"));
      const ro = argv.indexOf("/tmp/checkout");
      expect(argv[ro - 1]).toBe("--ro-bind-try");
      expect(ro).toBeGreaterThan(tmpfs);
      // The working directory is bound writable after it, so it wins where they overlap.
      expect(argv.indexOf("/home/u/work")).toBeGreaterThan(ro);
    });

    it("nothing extra is bound for programs elsewhere", () => {
      const { argv } = sandboxed("read-only", "/home/u/work", "/usr/bin/codex-acp", []);
      expect(argv).not.toContain("--ro-bind-try");
    });

    it("hidden folders become read-only tmpfs, hidden files /dev/null, after every writable bind", () => {
      const { argv } = sandboxed("workspace-write", "/home/u", "/usr/bin/agent", [], {
        writable: ["/home/u/.codex"],
        hidden: [
          entry("/home/u/.local/share/cocalc-plus", "dir"),
          entry("/home/u/.local/share/cocalc-plus/remote", "dir"),
          entry("/home/u/conn.token", "file"),
          entry("/home/u/.gnupg", "missing"),
        ],
      });
      expect(after(argv, "--tmpfs")).toEqual([["/tmp"], ["/home/u/.local/share/cocalc-plus"]]);
      expect(after(argv, "--remount-ro")).toEqual([["/home/u/.local/share/cocalc-plus"]]);
      expect(after(argv, "--ro-bind", 2)).toContainEqual(["/dev/null", "/home/u/conn.token"]);
      expect(argv).not.toContain("/home/u/.gnupg");
      const lastWritable = argv.lastIndexOf("/home/u/.codex");
      expect(argv.indexOf("/home/u/.local/share/cocalc-plus")).toBeGreaterThan(lastWritable);
    });

    it("the folders between the working directory and a hidden one are pinned (mount points cannot be moved)", () => {
      const { argv } = sandboxed("workspace-write", "/home/u", "/usr/bin/agent", [], {
        hidden: [entry("/home/u/.local/share/cocalc-plus", "dir")],
      });
      const binds = after(argv, "--bind", 2);
      expect(binds).toEqual([
        ["/home/u", "/home/u"],
        ["/home/u/.local", "/home/u/.local"],
        ["/home/u/.local/share", "/home/u/.local/share"],
      ]);
      // Read-only mode needs no pins: nothing there can be renamed.
      const ro = sandboxed("read-only", "/home/u", "/usr/bin/agent", [], {
        hidden: [entry("/home/u/.local/share/cocalc-plus", "dir")],
      });
      expect(after(ro.argv, "--bind", 2)).toEqual([]);
    });

    it("network: a namespace of its own unless allowed; the agent process behind the egress relay", () => {
      const none = sandboxed("read-only", "/w", "/usr/bin/agent", ["--x"]);
      expect(none.argv).toContain("--unshare-net");
      expect(none.argv.slice(-2)).toEqual(["/usr/bin/agent", "--x"]);
      const host = sandboxed("read-only", "/w", "/usr/bin/agent", [], { network: "host" });
      expect(host.argv).not.toContain("--unshare-net");
      const egress = sandboxed("workspace-write", "/w", "/usr/bin/agent", ["--x"], {
        network: { egress: "/run/x/egress.sock" },
      });
      expect(egress.argv).toContain("--unshare-net");
      expect(after(egress.argv, "--bind", 2)).toContainEqual([
        "/run/x/egress.sock",
        EGRESS_IN_SANDBOX,
      ]);
      const cmd = egress.argv.slice(egress.argv.indexOf("--") + 1);
      expect(cmd.slice(0, 2)).toEqual([process.execPath, "-e"]);
      expect(cmd.slice(3)).toEqual(["--", EGRESS_IN_SANDBOX, "/usr/bin/agent", "--x"]);
    });

    it("full access runs the command as it is", () => {
      expect(sandboxed("full-access", "/w", "/usr/bin/agent", ["a"]).argv).toEqual([
        "/usr/bin/agent",
        "a",
      ]);
    });
  },
);
