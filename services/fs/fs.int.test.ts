import { spawnSync } from "node:child_process";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliverPolicy } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrowserInbox } from "../../shared/browser-permissions.js";
import {
  type FsChange,
  type FsEvent,
  type FsReply,
  type FsRequest,
  type FsResults,
  UPLOAD_TEMP_PREFIX,
} from "../../shared/files.js";
import { Streams, workspaceSubjects } from "../../shared/subjects.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { Supervisor } from "../runtime/supervisor.js";
import { fsRegistry, fsService } from "./index.js";

const subjects = workspaceSubjects(TEST_WSID);

describe("fs service", () => {
  let t: TestNats;
  let base: string;
  let home: string;
  let supervisor: Supervisor;

  beforeAll(async () => {
    t = await setup({ streams: true });
    base = await realpath(await mkdtemp(join(tmpdir(), "cocalc-fs-")));
    home = join(base, "home");
    await mkdir(home);
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([fsService({ home })]);
  });
  afterAll(async () => {
    await supervisor?.stop();
    await t?.cleanup();
    if (base) await rm(base, { recursive: true, force: true });
  });

  async function raw(req: unknown): Promise<FsReply> {
    const m = await t.nc.request(
      subjects.request("fs"),
      typeof req === "string" ? req : JSON.stringify(req),
      { timeout: 30_000 },
    );
    return m.json<FsReply>();
  }

  async function call<R extends FsRequest>(req: R): Promise<FsResults[R["op"]]> {
    const reply = await raw(req);
    if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
    return reply.result as FsResults[R["op"]];
  }

  async function errorOf(req: unknown): Promise<string> {
    const reply = await raw(req);
    return reply.ok ? "ok" : reply.error.code;
  }

  const list = (path: string, extra: Partial<FsRequest<"list">> = {}) =>
    call({
      op: "list",
      path,
      offset: 0,
      limit: 300,
      sort: "name",
      desc: false,
      hidden: false,
      filter: "",
      ...extra,
    } as FsRequest<"list">);

  async function eventsSince(seq: number): Promise<{ subject: string; event: FsEvent }[]> {
    const info = await t.jsm.streams.info(Streams.WS_FS);
    if (info.state.last_seq <= seq) return [];
    const c = await t.js.consumers.get(Streams.WS_FS, {
      filter_subjects: subjects.fsEvents,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: seq + 1,
    });
    const out: { subject: string; event: FsEvent }[] = [];
    const it = await c.consume();
    for await (const m of it) {
      out.push({ subject: m.subject, event: fsRegistry.parse(m.data) });
      if (m.info.pending === 0) break;
    }
    it.stop();
    return out;
  }

  const lastSeq = async () => (await t.jsm.streams.info(Streams.WS_FS)).state.last_seq;

  it("list - pages a big directory in natural order, hides, filters, sorts", async () => {
    const big = join(home, "big");
    await mkdir(big);
    for (let i = 0; i < 2500; i++) await writeFile(join(big, `f${i}.txt`), "x".repeat(i % 7));
    await writeFile(join(big, ".hidden"), "");
    await mkdir(join(big, "zdir"));
    await symlink("zdir", join(big, "alink"));
    const first = await list("~/big");
    expect(first.path).toBe(big);
    expect(first.display).toBe("~/big");
    expect(first.total).toBe(2502);
    // Directories (and symlinks to them) first, then natural order.
    expect(first.entries.slice(0, 5).map((e) => e.name)).toEqual([
      "alink",
      "zdir",
      "f0.txt",
      "f1.txt",
      "f2.txt",
    ]);
    expect(first.entries[0]).toMatchObject({
      type: "symlink",
      link: { target: "zdir", type: "dir" },
    });
    expect(first.entries[12]!.name).toBe("f10.txt");
    const names: string[] = [];
    for (let offset = 0; offset < first.total; offset += 300) {
      const page = await list("~/big", { offset, cursor: first.cursor });
      expect(page.cursor).toBe(first.cursor);
      names.push(...page.entries.map((e) => e.name));
    }
    expect(names.length).toBe(2502);
    expect(new Set(names).size).toBe(2502);
    expect(names.at(-1)).toBe("f2499.txt");
    expect((await list("~/big", { hidden: true })).total).toBe(2503);
    expect((await list("~/big", { filter: "F249" })).total).toBe(11);
    const bySize = await list("~/big", { sort: "size", desc: true, limit: 3 });
    // Directories stay first; then the biggest files.
    expect(bySize.entries.map((e) => [e.name, e.size])).toEqual([
      ["zdir", 4096],
      ["alink", 4096],
      ["f2498.txt", 6],
    ]);
    expect(
      await errorOf({
        op: "list",
        path: "~/big",
        offset: 300,
        limit: 10,
        sort: "name",
        desc: false,
        hidden: false,
        filter: "",
        cursor: "nope",
      }),
    ).toBe("ERR_FS_CURSOR");
    expect(
      await errorOf({
        op: "list",
        path: "~/big/f1.txt",
        offset: 0,
        limit: 10,
        sort: "name",
        desc: false,
        hidden: false,
        filter: "",
      }),
    ).toBe("ERR_FS_NOT_DIR");
    expect(
      await errorOf({
        op: "list",
        path: "~/missing",
        offset: 0,
        limit: 10,
        sort: "name",
        desc: false,
        hidden: false,
        filter: "",
      }),
    ).toBe("ERR_FS_NOT_FOUND");
  });

  it("paths outside home, and ~/.root -> / lists the root directory", async () => {
    await symlink("/", join(home, ".root"));
    const root = await list("~/.root", { hidden: true });
    expect(root.path).toBe("/");
    expect(root.display).toBe("/");
    expect(root.entries.map((e) => e.name)).toEqual(expect.arrayContaining(["etc", "tmp"]));
    expect((await list("/etc")).path).toBe(await realpath("/etc"));
    const s = await call({ op: "stat", path: "~/.root" });
    expect(s).toMatchObject({ real: "/", type: "dir", entry: { type: "symlink" } });
    const hosts = await call({ op: "read", path: "/etc/hosts" });
    expect(hosts.content).toContain("localhost");
  });

  it("mutations - each publishes its event, and bad input changes nothing", async () => {
    const before = await lastSeq();
    const made = await call({
      op: "write",
      path: "~/a.txt",
      content: "",
      encoding: "utf8",
      exclusive: true,
    });
    expect(made).toEqual({ path: join(home, "a.txt"), size: 0, created: true });
    expect(
      await errorOf({
        op: "write",
        path: "~/a.txt",
        content: "",
        encoding: "utf8",
        exclusive: true,
      }),
    ).toBe("ERR_FS_EXISTS");
    await call({
      op: "write",
      path: "~/a.txt",
      content: "héllo\n",
      encoding: "utf8",
      exclusive: false,
    });
    expect(await readFile(join(home, "a.txt"), "utf8")).toBe("héllo\n");
    const read = await call({ op: "read", path: "~/a.txt" });
    expect(read).toMatchObject({
      content: "héllo\n",
      encoding: "utf8",
      binary: false,
      truncated: false,
    });
    await writeFile(join(home, "bin"), Buffer.from([0, 1, 2, 255]));
    expect(await call({ op: "read", path: "~/bin" })).toMatchObject({
      binary: true,
      encoding: "base64",
      content: "AAEC/w" + "==",
    });
    await call({ op: "mkdir", path: "~/d1/d2/d3", parents: true });
    expect((await stat(join(home, "d1/d2/d3"))).isDirectory()).toBe(true);
    expect(await errorOf({ op: "mkdir", path: "~/d1", parents: false })).toBe("ERR_FS_EXISTS");
    await call({ op: "rename", from: "~/a.txt", to: "~/b.txt" });
    expect(await errorOf({ op: "rename", from: "~/b.txt", to: "~/d1" })).toBe("ERR_FS_EXISTS");
    expect(await errorOf({ op: "rename", from: "~/d1", to: "~/d1/d2/inside" })).toBe(
      "ERR_FS_INVALID_MOVE",
    );
    await call({ op: "move", paths: ["~/b.txt"], dir: "~/d1" });
    const copied = await call({ op: "copy", paths: ["~/d1"], dir: "~" });
    expect(copied.copied[0]!.to).toBe(join(home, "d1 (copy)"));
    expect(await readFile(join(home, "d1 (copy)", "b.txt"), "utf8")).toBe("héllo\n");
    expect(await errorOf({ op: "copy", paths: ["~/d1"], dir: "~/d1/d2" })).toBe(
      "ERR_FS_INVALID_MOVE",
    );
    await call({ op: "delete", paths: ["~/d1 (copy)"] });
    expect(await errorOf({ op: "delete", paths: ["~"] })).toBe("ERR_FS_PERMISSION");
    expect(await errorOf({ op: "delete", paths: [base] })).toBe("ERR_FS_PERMISSION");
    expect(await errorOf({ op: "rename", from: "~", to: join(base, "moved-home") })).toBe(
      "ERR_FS_PERMISSION",
    );
    await symlink(join(home, "d1"), join(home, "link-to-d1"));
    await call({ op: "delete", paths: ["~/link-to-d1"] });
    expect((await stat(join(home, "d1", "b.txt"))).isFile()).toBe(true);

    const events = await eventsSince(before);
    expect(events.map((e) => `${e.subject.split(".").at(-1)} ${e.event.type}`)).toEqual([
      "created FileCreated",
      "written FileWritten",
      "created FileCreated",
      "created FileCreated",
      "created FileCreated",
      "renamed FileRenamed",
      "renamed FileRenamed",
      "copied FileCopied",
      "deleted FileDeleted",
      "deleted FileDeleted",
    ]);
    expect(events[5]!.event.data).toEqual({
      from: join(home, "a.txt"),
      to: join(home, "b.txt"),
      kind: "file",
    });
    expect(events[8]!.event.data).toEqual({ path: join(home, "d1 (copy)"), kind: "dir" });

    const quiet = await lastSeq();
    for (const bad of [
      "not json",
      { op: "explode" },
      { op: "list", path: "~" },
      { op: "write", path: "~/x", content: "", encoding: "utf8", exclusive: true, extra: 1 },
    ]) {
      expect(await errorOf(bad)).toBe("ERR_FS_REQUEST");
    }
    for (const to of [`~/${"n".repeat(300)}`, "~/a\0b"]) {
      expect(await errorOf({ op: "rename", from: "~/d1/b.txt", to })).toMatch(/ERR_FS_(NAME|PATH)/);
    }
    expect(await errorOf({ op: "read", path: "~/nope" })).toBe("ERR_FS_NOT_FOUND");
    expect(await errorOf({ op: "read", path: "~/d1" })).toBe("ERR_FS_IS_DIR");
    // A named pipe would block an open for reading until a writer comes: refused at once.
    expect(spawnSync("mkfifo", [join(home, "pipe")]).status).toBe(0);
    expect(await errorOf({ op: "read", path: "~/pipe" })).toBe("ERR_FS_NOT_FILE");
    expect(await lastSeq()).toBe(quiet);
  });

  it("hostile new names - control characters, only dots, '/', too long: ERR_FS_NAME for every op that makes a name, nothing on disk", async () => {
    const dir = join(home, "hostile");
    await mkdir(join(dir, "box"), { recursive: true });
    await writeFile(join(dir, "ok.txt"), "ok");
    const controls = [
      ...Array.from({ length: 0x20 }, (_, c) => String.fromCharCode(c)).filter((c) => c !== "\0"),
      "\x7f",
      "\x85",
      "\u2028",
    ];
    const names = [...controls.map((c) => `a${c}b`), "...", "....", `${"n".repeat(256)}`];
    const before = await readdir(dir, { recursive: true });
    const quiet = await lastSeq();
    for (const name of names) {
      const to = `~/hostile/${name}`;
      const what = JSON.stringify(name);
      const code = (req: unknown) => errorOf(req).then((c) => `${what}: ${c}`);
      const want = `${what}: ERR_FS_NAME`;
      expect(
        await code({ op: "write", path: to, content: "", encoding: "utf8", exclusive: true }),
      ).toBe(want);
      expect(
        await code({ op: "write", path: to, content: "x", encoding: "utf8", exclusive: false }),
      ).toBe(want);
      expect(
        await code({
          op: "write",
          path: to,
          content: "x",
          encoding: "utf8",
          exclusive: false,
          atomic: true,
        }),
      ).toBe(want);
      expect(await code({ op: "mkdir", path: to, parents: false })).toBe(want);
      expect(await code({ op: "mkdir", path: `${to}/deeper`, parents: true })).toBe(want);
      expect(await code({ op: "rename", from: "~/hostile/ok.txt", to })).toBe(want);
    }
    // mkdir -p with a bad name deep down makes none of the folders above it.
    expect(await errorOf({ op: "mkdir", path: "~/hostile/new/a\nb/c", parents: true })).toBe(
      "ERR_FS_NAME",
    );
    // A name with '/' is a path: the rename lands nowhere but in an existing folder.
    expect(await errorOf({ op: "rename", from: "~/hostile/ok.txt", to: "~/hostile/no/x" })).toBe(
      "ERR_FS_NOT_FOUND",
    );
    expect(await readdir(dir, { recursive: true })).toEqual(before);
    expect(await lastSeq()).toBe(quiet);

    // An entry made outside with such a name can be opened and renamed to a good name, but a
    // move or copy would make the bad name again: refused until it is renamed.
    await writeFile(join(dir, "bad\nname.txt"), "outside");
    expect(
      await errorOf({ op: "move", paths: ["~/hostile/bad\nname.txt"], dir: "~/hostile/box" }),
    ).toBe("ERR_FS_NAME");
    expect(
      await errorOf({ op: "copy", paths: ["~/hostile/bad\nname.txt"], dir: "~/hostile/box" }),
    ).toBe("ERR_FS_NAME");
    expect(await readdir(join(dir, "box"))).toEqual([]);
    expect((await call({ op: "read", path: "~/hostile/bad\nname.txt" })).content).toBe("outside");
    await call({ op: "rename", from: "~/hostile/bad\nname.txt", to: "~/hostile/good.txt" });
    expect((await readdir(dir)).sort()).toEqual(["box", "good.txt", "ok.txt"]);
    // An existing folder with such a name: mkdir -p inside it makes only the new one.
    await mkdir(join(dir, "old\x1bdir"));
    await call({ op: "mkdir", path: "~/hostile/old\x1bdir/fresh", parents: true });
    expect(await readdir(join(dir, "old\x1bdir"))).toEqual(["fresh"]);
    await call({ op: "delete", paths: ["~/hostile/old\x1bdir"] });
    await writeFile(join(dir, "gone\tsoon"), "");
    await call({ op: "delete", paths: ["~/hostile/gone\tsoon"] });
    expect((await readdir(dir)).sort()).toEqual(["box", "good.txt", "ok.txt"]);
  });

  it("write atomic - the file is replaced whole through a rename, keeps its mode, and a symlink stays", async () => {
    const before = await lastSeq();
    const path = join(home, "atomic.txt");
    const write = (p: string, content: string) =>
      call({ op: "write", path: p, content, encoding: "utf8", exclusive: false, atomic: true });
    expect(await write("~/atomic.txt", "one\n")).toEqual({ path, size: 4, created: true });
    await chmod(path, 0o640);
    const inode = (await stat(path)).ino;
    expect(await write("~/atomic.txt", "two\n")).toEqual({ path, size: 4, created: false });
    expect(await readFile(path, "utf8")).toBe("two\n");
    const after = await stat(path);
    // A new inode: renamed over the old one, not rewritten in place.
    expect(after.ino).not.toBe(inode);
    expect(after.mode & 0o7777).toBe(0o640);
    await symlink("atomic.txt", join(home, "atomic-link"));
    expect(await write("~/atomic-link", "three\n")).toMatchObject({ path, created: false });
    expect((await lstat(join(home, "atomic-link"))).isSymbolicLink()).toBe(true);
    expect(await readFile(path, "utf8")).toBe("three\n");
    expect(spawnSync("mkfifo", [join(home, "atomic-pipe")]).status).toBe(0);
    await mkdir(join(home, "atomic-dir"));
    for (const [p, code] of [
      ["~/atomic-pipe", "ERR_FS_NOT_FILE"],
      ["~/atomic-dir", "ERR_FS_IS_DIR"],
      ["~/no-such-dir/x", "ERR_FS_NOT_FOUND"],
    ] as const) {
      const r = await raw({
        op: "write",
        path: p,
        content: "x",
        encoding: "utf8",
        exclusive: false,
        atomic: true,
      });
      expect(r.ok ? "ok" : r.error.code, p).toBe(code);
    }
    // No temp file is left behind.
    expect((await readdir(home)).filter((n) => n.startsWith(UPLOAD_TEMP_PREFIX))).toEqual([]);
    const events = await eventsSince(before);
    expect(events.map((e) => e.event.type)).toEqual(["FileCreated", "FileWritten", "FileWritten"]);
  });

  it("resolve - the canonical path, also of what does not exist yet", async () => {
    await mkdir(join(home, "real-dir"));
    await symlink("real-dir", join(home, "dir-link"));
    await symlink("real-dir/future.txt", join(home, "dangling"));
    expect(await call({ op: "resolve", path: "~/dir-link/new/file.txt" })).toEqual({
      real: join(home, "real-dir/new/file.txt"),
      display: "~/real-dir/new/file.txt",
    });
    expect((await call({ op: "resolve", path: "~/dangling" })).real).toBe(
      join(home, "real-dir/future.txt"),
    );
  });

  it("watch - a renewal says whether the client held the watch already", async () => {
    await mkdir(join(home, "leased"));
    const client = "client-renew-1";
    const watch = () => call({ op: "watch", path: "~/leased", client });
    expect(await watch()).toMatchObject({ path: join(home, "leased"), renewed: false });
    expect(await watch()).toMatchObject({ renewed: true });
    expect(await call({ op: "unwatch", client })).toEqual({ stopped: 1 });
    expect(await watch()).toMatchObject({ renewed: false });
    await call({ op: "unwatch", client });
  });

  it("change feed - an outside touch in a watched directory is reported", async () => {
    await mkdir(join(home, "watched"));
    const changes: FsChange[] = [];
    const sub = t.nc.subscribe(subjects.feed("fs"), {
      callback: (_err, m) => {
        changes.push(m.json<FsChange>());
      },
    });
    await t.nc.flush();
    const client = "client-test-1";
    const first = await list("~/watched", { watch: client });
    expect(first.watchError).toBeUndefined();
    const r = spawnSync("touch", [join(home, "watched", "from-outside.txt")]);
    expect(r.status).toBe(0);
    const change = await until("the touch on the feed", async () =>
      changes.find((c) => c.dir === join(home, "watched") && c.names?.includes("from-outside.txt")),
    );
    expect(change.names).toEqual(["from-outside.txt"]);
    // Many changes at once come as one notification, or a few, not one per file.
    changes.length = 0;
    for (let i = 0; i < 100; i++) await writeFile(join(home, "watched", `burst-${i}`), "");
    await until(
      "the burst",
      async () => changes.length > 0 && changes.flatMap((c) => c.names ?? []).length >= 100,
    );
    expect(changes.length).toBeLessThan(20);
    expect(await call({ op: "unwatch", client })).toEqual({ stopped: 1 });
    sub.unsubscribe();
  });

  it("the browser user may call fs and hear the feed, but not publish file events", async () => {
    const nc = await connect({
      servers: t.url,
      user: t.browser.user,
      pass: t.browser.password,
      inboxPrefix: BrowserInbox,
    });
    try {
      const reply = (
        await nc.request(subjects.request("fs"), JSON.stringify({ op: "info" }), {
          timeout: 10_000,
        })
      ).json<FsReply<"info">>();
      expect(reply).toEqual({ ok: true, result: { home, sandbox: null } });
      const sub = nc.subscribe(subjects.feed("fs"));
      await nc.flush();
      const errors: string[] = [];
      void (async () => {
        for await (const s of nc.status()) if (s.type === "error") errors.push(String(s.error));
      })();
      nc.publish(subjects.fsEvent("created"), "{}");
      await nc.flush();
      await until(
        "permission violation",
        async () => errors.some((e) => /permission/i.test(e)),
        5000,
      );
      sub.unsubscribe();
    } finally {
      await nc.close();
    }
  });

  it("sandboxed - nothing outside the root can be reached", async () => {
    const box = join(base, "box");
    await mkdir(box);
    await symlink("/etc", join(box, "etc-link"));
    const sandboxed = new Supervisor({
      nc: await t.connect("sandboxed"),
      wsid: "sandboxws",
      log: testLog,
    });
    await sandboxed.start([fsService({ home: box, sandbox: box })]);
    try {
      const ask = async (req: unknown) =>
        (
          await t.nc.request(workspaceSubjects("sandboxws").request("fs"), JSON.stringify(req), {
            timeout: 10_000,
          })
        ).json<FsReply>();
      const l = { offset: 0, limit: 10, sort: "name", desc: false, hidden: false, filter: "" };
      for (const path of ["/etc", "~/etc-link", "../", "%2e%2e", `${box}/../home`]) {
        const r = await ask({ op: "list", path, ...l });
        expect(r.ok ? "ok" : r.error.code, path).toBe("ERR_FS_OUTSIDE_SANDBOX");
      }
      const resolved = await ask({ op: "resolve", path: "~/etc-link/passwd" });
      expect(resolved.ok ? "ok" : resolved.error.code).toBe("ERR_FS_OUTSIDE_SANDBOX");
      const ok = await ask({ op: "list", path: "~", ...l });
      expect(ok.ok).toBe(true);
      const entries = (ok as { result: FsResults["list"] }).result.entries;
      expect(entries.find((e) => e.name === "etc-link")?.error).toBe("points outside the sandbox");
    } finally {
      await sandboxed.stop();
    }
  });
});
