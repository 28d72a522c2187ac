import { describe, expect, it } from "vitest";
import { hideHostPaths } from "./host-paths.js";

describe("hideHostPaths", () => {
  const o = { root: "/mnt/b", dataDir: "/var/lib/lp" };
  it.each([
    ["cannot open /mnt/b/workspaces/w1/home/x.txt: denied", "cannot open /home/user/x.txt: denied"],
    ["'/mnt/b/workspaces/w1/scratch' full", "'/scratch' full"],
    ["/mnt/b/workspaces/w1/snapshots/s1: gone", "/home/user/.snapshots/s1: gone"],
    ["mount: /mnt/b/workspaces/w1/rootfs: busy", "mount: (the workspace's root file system): busy"],
    ["no /mnt/b/workspaces/w1/rootfs/etc/passwd", "no /etc/passwd"],
    [
      "lowerdir=/mnt/b/images/base,upperdir=/mnt/b/workspaces/w1/layer/upper,workdir=/mnt/b/workspaces/w1/layer/work",
      "lowerdir=image base,upperdir=/,workdir=(the root file system's work dir)",
    ],
    ["open /mnt/b/workspaces/w1/info/quota: busy", "open /etc/cocalc/quota: busy"],
    ["/mnt/b/workspaces/w1/home.restoring exists", "(the home being restored) exists"],
    ["quota on /mnt/b failed", "quota on (the host's storage) failed"],
    ["socket /var/lib/lp/terminals/w1/pty.sock", "socket (the host's data)"],
    ["/mnt/bb/x is another mount", "/mnt/bb/x is another mount"],
  ])("%s", (message, shown) => {
    expect(hideHostPaths(message, o)).toBe(shown);
  });
});
