import {
  appendFile,
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  realpath,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docsService } from "../../services/docs/index.js";
import { docsCommand, NodeDoc } from "../../services/docs/test-kit.js";
import { fsService } from "../../services/fs/index.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";

// The docs service as a launchpad host runs it, its files through the workspace's fs service;
// here a sandboxed fs service on this machine (no container, no root needed): every read,
// write and watch of a document's file is an fs request. With a real container:
// launchpad-workspaces.int.test.ts.
describe("docs service through the fs service", () => {
  let t: TestNats;
  let base: string;
  let home: string;
  let supervisor: Supervisor;
  const docs: NodeDoc[] = [];

  beforeAll(async () => {
    t = await setup({ streams: true });
    base = await realpath(await mkdtemp(join(tmpdir(), "cocalc-docs-fs-")));
    home = join(base, "home");
    await mkdir(home);
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([
      fsService({ home, sandbox: home }),
      docsService({ container: { home }, saveDelayMs: 100 }),
    ]);
  });
  afterAll(async () => {
    for (const d of docs) await d.stop();
    await supervisor?.stop();
    await t?.cleanup();
    if (base) await rm(base, { recursive: true, force: true });
  });

  async function open(path: string) {
    const d = await NodeDoc.open(t.nc, TEST_WSID, path);
    docs.push(d);
    return d;
  }
  const diskIs = (path: string, text: string) =>
    until(`${path} on disk`, async () => (await readFile(path, "utf8").catch(() => "")) === text);

  it("edits reach the file, replaced whole with its mode kept; an outside append reaches the document", async () => {
    const path = join(home, "a.txt");
    await writeFile(path, "hello\n");
    await chmod(path, 0o640);
    const inode = (await stat(path)).ino;
    const a = await open(path);
    await until("loaded", async () => a.text === "hello\n");
    await a.edit((s) => `${s}typed\n`);
    await a.settled();
    await diskIs(path, "hello\ntyped\n");
    const st = await stat(path);
    expect(st.mode & 0o777).toBe(0o640);
    expect(st.ino).not.toBe(inode);
    await appendFile(path, "appended\n");
    await until("the append in the document", async () => a.text === "hello\ntyped\nappended\n");
    await a.edit((s) => s.replace("hello", "hi"));
    await a.settled();
    await diskIs(path, "hi\ntyped\nappended\n");
  });

  it("a deleted file can be saved again (its path resolves while it is missing)", async () => {
    const path = join(home, "gone.txt");
    await writeFile(path, "keep me");
    const a = await open(path);
    await until("loaded", async () => a.text === "keep me");
    await unlink(path);
    await a.edit((s) => `${s}!`);
    await a.settled();
    expect(await docsCommand(t.nc, TEST_WSID, "SaveDocument", { path })).toMatchObject({
      ok: true,
    });
    expect(await readFile(path, "utf8")).toBe("keep me!");
  });

  it("a symlink out of the sandbox is refused; binary and missing files as with plus", async () => {
    const secret = join(base, "secret.txt");
    await writeFile(secret, "secret\n");
    await symlink(secret, join(home, "link"));
    for (const type of ["OpenDocument", "SaveDocument"]) {
      const r = await docsCommand(t.nc, TEST_WSID, type, { path: join(home, "link") });
      expect(r, type).toMatchObject({ ok: false, error: { code: "ERR_FS_OUTSIDE_SANDBOX" } });
    }
    expect(await readFile(secret, "utf8")).toBe("secret\n");
    await writeFile(join(home, "b.bin"), Buffer.from([0x89, 0x50, 0, 1]));
    expect(
      await docsCommand(t.nc, TEST_WSID, "OpenDocument", { path: join(home, "b.bin") }),
    ).toMatchObject({ ok: true, result: { refused: "binary" } });
    await writeFile(join(home, "big.txt"), "x".repeat(1024 * 1024));
    expect(
      await docsCommand(t.nc, TEST_WSID, "OpenDocument", { path: join(home, "big.txt") }),
    ).toMatchObject({ ok: true, result: { refused: "too-large" } });
    const missing = await docsCommand(t.nc, TEST_WSID, "OpenDocument", {
      path: join(home, "none.txt"),
    });
    expect(missing).toMatchObject({
      ok: false,
      error: { code: "ERR_FS_NOT_FOUND", message: "~/none.txt does not exist" },
    });
    await mkdir(join(home, "dir"));
    const dir = await docsCommand(t.nc, TEST_WSID, "OpenDocument", { path: join(home, "dir") });
    expect(dir).toMatchObject({ ok: false, error: { code: "ERR_DOC_NOT_TEXT" } });
  });
});
