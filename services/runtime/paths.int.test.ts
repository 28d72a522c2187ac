import { spawn } from "node:child_process";
import { constants } from "node:fs";
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CocalcError } from "../../shared/errors.js";
import { PathResolver } from "./paths.js";

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    if (err instanceof CocalcError) return err.code;
    throw err;
  }
}

async function readThrough(r: PathResolver, path: string): Promise<string> {
  const { handle } = await r.openFile(path, constants.O_RDONLY);
  try {
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

describe("path resolver", () => {
  let base: string;
  let box: string;
  let sandboxed: PathResolver;

  beforeAll(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), "cocalc-paths-")));
    box = join(base, "box");
    await mkdir(join(box, "sub"), { recursive: true });
    await mkdir(join(base, "outside-dir"));
    await writeFile(join(base, "secret.txt"), "SECRET");
    await writeFile(join(base, "outside-dir", "f.txt"), "SECRET");
    await writeFile(join(box, "file.txt"), "inside");
    await writeFile(join(box, "sub", "inner.txt"), "inner");
    await writeFile(join(box, "%2e%2e"), "a file with a strange name");
    await symlink("/etc", join(box, "link-etc"));
    await symlink("../secret.txt", join(box, "link-secret"));
    await symlink("sub", join(box, "link-sub"));
    await symlink(join(base, "outside-dir"), join(box, "link-out-dir"));
    await symlink(join(base, "created-outside.txt"), join(box, "dangling-out"));
    await symlink("sub/new.txt", join(box, "dangling-in"));
    sandboxed = await PathResolver.create({ home: box, sandbox: box });
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("sandbox - refuses every way out and allows what stays inside", async () => {
    const table: [string, string][] = [
      ["../secret.txt", "ERR_FS_OUTSIDE_SANDBOX"],
      ["sub/../../secret.txt", "ERR_FS_OUTSIDE_SANDBOX"],
      ["sub/../file.txt", "ERR_FS_OUTSIDE_SANDBOX"],
      ["%2e%2e/secret.txt", "ERR_FS_OUTSIDE_SANDBOX"],
      ["%2E%2E/secret.txt", "ERR_FS_OUTSIDE_SANDBOX"],
      ["%252e%252e/secret.txt", "ERR_FS_OUTSIDE_SANDBOX"],
      ["..%2fsecret.txt", "ERR_FS_OUTSIDE_SANDBOX"],
      ["sub%2f..%2f..%2fsecret.txt", "ERR_FS_OUTSIDE_SANDBOX"],
      ["/etc/passwd", "ERR_FS_OUTSIDE_SANDBOX"],
      [join(base, "secret.txt"), "ERR_FS_OUTSIDE_SANDBOX"],
      ["link-etc/passwd", "ERR_FS_OUTSIDE_SANDBOX"],
      ["link-etc", "ERR_FS_OUTSIDE_SANDBOX"],
      ["link-secret", "ERR_FS_OUTSIDE_SANDBOX"],
      ["link-out-dir/f.txt", "ERR_FS_OUTSIDE_SANDBOX"],
      ["dangling-out", "ERR_FS_OUTSIDE_SANDBOX"],
      ["file\0.txt", "ERR_FS_PATH"],
      ["file.txt", "ok"],
      ["~/file.txt", "ok"],
      [join(box, "file.txt"), "ok"],
      [`${box}//sub/./inner.txt`, "ok"],
      ["link-sub/inner.txt", "ok"],
    ];
    for (const [input, want] of table) {
      expect(await codeOf(sandboxed.real(input)), `real ${JSON.stringify(input)}`).toBe(want);
      if (want !== "ok") {
        expect(await codeOf(readThrough(sandboxed, input)), `open ${input}`).toBe(want);
      }
    }
    expect(await readThrough(sandboxed, "link-sub/inner.txt")).toBe("inner");
    expect(await sandboxed.real("link-sub/inner.txt")).toBe(join(box, "sub", "inner.txt"));
    expect(await readThrough(sandboxed, join(box, "file.txt"))).toBe("inside");
    // A dangling symlink inside resolves to where its target would be created.
    expect(await sandboxed.real("dangling-in")).toBe(join(box, "sub", "new.txt"));
    // Writing through a symlink that escapes creates nothing outside.
    expect(
      await codeOf(sandboxed.openFile("dangling-out", constants.O_WRONLY | constants.O_CREAT)),
    ).toBe("ERR_FS_OUTSIDE_SANDBOX");
    expect(await readdir(base)).not.toContain("created-outside.txt");
    // Directories: a symlinked directory inside is fine, one that escapes is not.
    const sub = await sandboxed.pinDir("link-sub");
    expect(sub.path).toBe(join(box, "sub"));
    expect((await readdir(sub.dirPath)).sort()).toEqual(["inner.txt"]);
    await sub.close();
    expect(await codeOf(sandboxed.pinDir("link-out-dir"))).toBe("ERR_FS_OUTSIDE_SANDBOX");
    expect(await codeOf(sandboxed.pinParent("link-etc/passwd"))).toBe("ERR_FS_OUTSIDE_SANDBOX");
  });

  it("sandbox - a symlink swapped in between the check and the open is caught", async () => {
    const swapDir = join(box, "swap");
    await mkdir(swapDir);
    await writeFile(join(swapDir, "f.txt"), "inside");
    let armed = true;
    const r = await PathResolver.create({
      home: box,
      sandbox: box,
      beforeOpen: async () => {
        if (!armed) return;
        armed = false;
        // The checked directory is replaced by a symlink to outside, right before the open.
        await rename(swapDir, join(box, "swap-away"));
        await symlink(join(base, "outside-dir"), swapDir);
      },
    });
    expect(await codeOf(readThrough(r, "swap/f.txt"))).toBe("ERR_FS_OUTSIDE_SANDBOX");
    armed = true;
    await rm(swapDir);
    await rename(join(box, "swap-away"), swapDir);
    expect(await codeOf(r.pinDir("swap"))).toBe("ERR_FS_OUTSIDE_SANDBOX");
    // The last component swapped for a symlink: O_NOFOLLOW refuses it.
    await rm(swapDir, { recursive: true, force: true });
    await rm(join(box, "swap-away"), { recursive: true, force: true });
    await writeFile(join(box, "last.txt"), "inside");
    let armedLast = true;
    const r2 = await PathResolver.create({
      home: box,
      sandbox: box,
      beforeOpen: async (checked) => {
        if (!armedLast || checked !== box) return;
        armedLast = false;
        await rm(join(box, "last.txt"));
        await symlink(join(base, "secret.txt"), join(box, "last.txt"));
      },
    });
    expect(await codeOf(readThrough(r2, "last.txt"))).toBe("ERR_FS_OUTSIDE_SANDBOX");
    await rm(join(box, "last.txt"));
  });

  it("deny - denied paths are refused with the caller's error: symlinks, new files, a swap before the open", async () => {
    const denied = join(base, "outside-dir");
    const refuse = (asked: string, real: string, d: string) =>
      new CocalcError("ERR_AGENT_PROTECTED_PATH", `${asked} -> ${real} in ${d}`);
    const r = await PathResolver.create({ home: box, deny: { paths: [denied], refuse } });
    expect(await readThrough(r, join(box, "file.txt"))).toBe("inside");
    expect(await codeOf(readThrough(r, join(denied, "f.txt")))).toBe("ERR_AGENT_PROTECTED_PATH");
    expect(await codeOf(readThrough(r, "link-out-dir/f.txt"))).toBe("ERR_AGENT_PROTECTED_PATH");
    // A file that does not exist yet: judged by its nearest existing parent.
    expect(await codeOf(r.real(join(denied, "new", "deeper.txt")))).toBe(
      "ERR_AGENT_PROTECTED_PATH",
    );
    expect(await codeOf(r.real(denied))).toBe("ERR_AGENT_PROTECTED_PATH");
    // Only the path and what is inside it: a sibling with the same prefix is not denied.
    await mkdir(join(base, "outside-dir-2"), { recursive: true });
    expect(await codeOf(r.real(join(base, "outside-dir-2", "x")))).toBe("ok");
    // A symlink swapped in between the check and the open is caught after the open.
    await mkdir(join(box, "swap2"));
    await writeFile(join(box, "swap2", "f.txt"), "inside");
    let armed = true;
    const swapping = await PathResolver.create({
      home: box,
      deny: { paths: [denied], refuse },
      beforeOpen: async () => {
        if (!armed) return;
        armed = false;
        await rename(join(box, "swap2"), join(box, "swap2-away"));
        await symlink(denied, join(box, "swap2"));
      },
    });
    expect(await codeOf(readThrough(swapping, "swap2/f.txt"))).toBe("ERR_AGENT_PROTECTED_PATH");
    await rm(join(box, "swap2"));
    await rm(join(box, "swap2-away"), { recursive: true });
  });

  it("sandbox - racing swaps never let a read out", async () => {
    const race = join(box, "race");
    const real = join(box, "race-real");
    await mkdir(real);
    await writeFile(join(real, "f.txt"), "inside");
    await symlink("race-real", race);
    // Another process flips `race` between a directory inside and one outside, atomically.
    const script = `cd ${JSON.stringify(box)}; while :; do ln -sfn ${JSON.stringify(join(base, "outside-dir"))} race.tmp && mv -T race.tmp race; ln -sfn race-real race.tmp && mv -T race.tmp race; done`;
    const flipper = spawn("sh", ["-c", script], { stdio: "ignore" });
    try {
      const seen = { inside: 0, refused: 0 };
      for (let i = 0; i < 400; i++) {
        try {
          expect(await readThrough(sandboxed, "race/f.txt")).toBe("inside");
          seen.inside++;
        } catch (err) {
          expect(err).toBeInstanceOf(CocalcError);
          expect(["ERR_FS_OUTSIDE_SANDBOX", "ERR_FS_NOT_FOUND"]).toContain(
            (err as CocalcError).code,
          );
          seen.refused++;
        }
      }
      expect(seen.inside + seen.refused).toBe(400);
    } finally {
      flipper.kill("SIGKILL");
      await new Promise((r) => flipper.once("exit", r));
    }
  });

  it("sandbox - a file named %2e%2e is a name, not a way up, outside the sandbox", async () => {
    const plain = await PathResolver.create({ home: box });
    expect(await readFile(await plain.real("%2e%2e"), "utf8")).toContain("strange");
    expect(await codeOf(sandboxed.real("%2e%2e"))).toBe("ERR_FS_OUTSIDE_SANDBOX");
  });

  it("plus - every path works, ~/ display, symlinks resolve to canonical paths", async () => {
    const home = join(base, "home");
    await mkdir(home);
    await symlink("/", join(home, ".root"));
    const r = await PathResolver.create({ home });
    expect(r.sandbox).toBeNull();
    expect(await r.real("~/.root")).toBe("/");
    expect(await r.real("~/.root/etc")).toBe(await realpath("/etc"));
    expect(r.absolute("~/a/../b")).toBe(join(home, "b"));
    expect(r.absolute("notes.md")).toBe(join(home, "notes.md"));
    expect(r.display(join(home, "x", "y"))).toBe("~/x/y");
    expect(r.display(home)).toBe("~");
    expect(r.display("/etc/hosts")).toBe("/etc/hosts");
    expect(await readThrough(r, "/etc/hosts")).toContain("localhost");
    const root = await r.pinDir("~/.root");
    expect(root.path).toBe("/");
    expect(await readdir(root.dirPath)).toContain("etc");
    await root.close();
    expect(await codeOf(r.real("/nonexistent/x"))).toBe("ok");
    expect(await codeOf(r.pinDir("/nonexistent"))).toBe("ERR_FS_NOT_FOUND");
  });
});
