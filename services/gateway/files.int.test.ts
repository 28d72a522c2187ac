import { execFileSync } from "node:child_process";
import {
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
import { request as httpRequest, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { FastifyInstance } from "fastify";
import { extract } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventRegistry } from "../../shared/envelope.js";
import { type FsEvent, FsEvents } from "../../shared/files.js";
import { Streams, workspaceSubjects } from "../../shared/subjects.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { PathResolver } from "../runtime/paths.js";
import { buildApp } from "./app.js";
import { BrowserSessions } from "./browser-sessions.js";
import { contentDisposition, fileEventPublisher, parseRange } from "./files.js";

const TOKEN = "test-token-for-files";
const registry = new EventRegistry<FsEvent>(FsEvents);

interface Res {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

describe("gateway - uploads and downloads", () => {
  let t: TestNats;
  let app: FastifyInstance;
  let base: string;
  let home: string;
  let port: number;
  let sessions: BrowserSessions;
  let credential: string;

  beforeAll(async () => {
    sessions = await BrowserSessions.open();
    credential = await sessions.create("test");
    t = await setup({ streams: true });
    base = await realpath(await mkdtemp(join(tmpdir(), "cocalc-gw-files-")));
    home = join(base, "home");
    await mkdir(home);
    app = await buildApp({
      token: () => TOKEN,
      sessions,
      allowedHosts: new Set(["127.0.0.1"]),
      webRoot: join(base, "no-web"),
      natsWsPort: () => 1,
      natsWsOrigin: "http://x.invalid",
      session: () => ({
        wsid: TEST_WSID,
        version: "t",
        natsPath: "/nats",
        nats: { user: "b", pass: "p" },
      }),
      health: () => ({ status: "ok" }),
      log: testLog,
      files: {
        resolver: await PathResolver.create({ home }),
        publish: fileEventPublisher(jetstream(t.nc), TEST_WSID, testLog),
        log: testLog,
      },
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    port = (app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await app?.close();
    await t?.cleanup();
    if (base) await rm(base, { recursive: true, force: true });
  });

  function headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      host: `127.0.0.1:${port}`,
      origin: `http://127.0.0.1:${port}`,
      authorization: `Bearer ${credential}`,
      ...extra,
    };
  }

  function send(
    method: string,
    path: string,
    body?: Buffer | Readable,
    extra: Record<string, string> = {},
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      const h = headers(extra);
      if (Buffer.isBuffer(body)) h["content-length"] = String(body.length);
      if (body) h["content-type"] ??= "application/octet-stream";
      const req = httpRequest({ host: "127.0.0.1", port, method, path, headers: h }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      });
      req.on("error", reject);
      if (body instanceof Readable) body.pipe(req);
      else req.end(body);
    });
  }

  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
  const upload = (
    dir: string,
    name: string,
    body: Buffer | Readable,
    conflict = "fail",
    extra = {},
  ) => send("PUT", `/api/files/upload?${q({ dir, name, conflict })}`, body, extra);
  const json = (r: Res) => JSON.parse(r.body.toString()) as Record<string, unknown>;

  async function uploadedEvents(): Promise<FsEvent[]> {
    const info = await t.jsm.streams.info(Streams.WS_FS);
    if (info.state.messages === 0) return [];
    const c = await t.js.consumers.get(Streams.WS_FS, {
      filter_subjects: workspaceSubjects(TEST_WSID).fsEvents,
      deliver_policy: DeliverPolicy.All,
    });
    const out: FsEvent[] = [];
    const it = await c.consume();
    for await (const m of it) {
      out.push(registry.parse(m.data));
      if (m.info.pending === 0) break;
    }
    it.stop();
    return out;
  }

  it("uploads a file: temp file, then renamed into place, then FileUploaded", async () => {
    const r = await upload("~", "hello.txt", Buffer.from("hello world"));
    expect(r.status).toBe(201);
    expect(json(r)).toMatchObject({
      path: join(home, "hello.txt"),
      name: "hello.txt",
      size: 11,
      replaced: false,
    });
    expect(await readFile(join(home, "hello.txt"), "utf8")).toBe("hello world");
    expect(await readdir(home)).toEqual(["hello.txt"]);
    const events = await uploadedEvents();
    expect(events.at(-1)).toMatchObject({
      type: "FileUploaded",
      data: { path: join(home, "hello.txt"), size: 11, replaced: false },
    });
  });

  it("collisions: fail keeps the old file, replace replaces, rename keeps both", async () => {
    await writeFile(join(home, "c.txt"), "old");
    const failed = await upload("~", "c.txt", Buffer.from("new"));
    expect(failed.status).toBe(409);
    expect(json(failed)).toMatchObject({ code: "ERR_FS_EXISTS" });
    expect(json(failed).message).toMatch(/c\.txt already exists/);
    expect(await readFile(join(home, "c.txt"), "utf8")).toBe("old");
    const renamed = await upload("~", "c.txt", Buffer.from("both"), "rename");
    expect(json(renamed)).toMatchObject({ name: "c (1).txt" });
    expect(await readFile(join(home, "c (1).txt"), "utf8")).toBe("both");
    const replaced = await upload("~", "c.txt", Buffer.from("new"), "replace");
    expect(json(replaced)).toMatchObject({ name: "c.txt", replaced: true });
    expect(await readFile(join(home, "c.txt"), "utf8")).toBe("new");
    await mkdir(join(home, "adir"));
    const onDir = await upload("~", "adir", Buffer.from("x"), "replace");
    expect(json(onDir)).toMatchObject({ code: "ERR_FS_IS_DIR" });
    expect((await readdir(home)).filter((n) => n.startsWith(".cocalc-upload-"))).toEqual([]);
  });

  it("folder uploads recreate the tree under the target only", async () => {
    await mkdir(join(home, "target"));
    for (const [name, body] of [
      ["proj/a/b/c.txt", "deep"],
      ["proj/x.txt", "top"],
      ["proj/a/y.txt", "mid"],
    ] as const) {
      expect((await upload("~/target", name, Buffer.from(body))).status).toBe(201);
    }
    expect(await readFile(join(home, "target/proj/a/b/c.txt"), "utf8")).toBe("deep");
    expect(await readFile(join(home, "target/proj/x.txt"), "utf8")).toBe("top");
    expect(await readFile(join(home, "target/proj/a/y.txt"), "utf8")).toBe("mid");
    const created = (await uploadedEvents()).filter((e) => e.type === "FileCreated");
    expect(created.map((e) => e.data.path)).toEqual(
      expect.arrayContaining([
        join(home, "target/proj"),
        join(home, "target/proj/a"),
        join(home, "target/proj/a/b"),
      ]),
    );
    // A file where a folder is needed is a clear error.
    await writeFile(join(home, "target", "plain"), "");
    expect(json(await upload("~/target", "plain/inner.txt", Buffer.from("x")))).toMatchObject({
      code: "ERR_FS_NOT_DIR",
    });
  });

  it("hostile names are refused and nothing is written anywhere", async () => {
    await mkdir(join(home, "safe"));
    const before = await readdir(base);
    for (const name of [
      "../evil.txt",
      "../../evil.txt",
      "a/../../evil.txt",
      "/etc/evil.txt",
      "/",
      "a\0b",
      ".",
      "..",
      "a//b",
      "n".repeat(256),
      // Listings hide uploads in progress by this prefix: such a file would vanish.
      ".cocalc-upload-abc",
      "sub/.cocalc-upload-abc/x.txt",
      // A new name holds no control character and is not only dots.
      "a\nb.txt",
      "a\rb.txt",
      "a\tb.txt",
      "a\x1bb.txt",
      "a\x7fb.txt",
      "folder\n/x.txt",
      "ok/a\x01b",
      "...",
      "sub/../x.txt",
    ]) {
      const r = await upload("~/safe", name, Buffer.from("evil"));
      expect(r.status, JSON.stringify(name)).toBe(400);
      expect(json(r).code, JSON.stringify(name)).toMatch(/ERR_FS_(NAME|PATH)/);
    }
    expect(json(await upload("~/safe", "a\nb.txt", Buffer.from("x")))).toMatchObject({
      code: "ERR_FS_NAME",
      message: expect.stringContaining("U+000A (a newline)"),
    });
    expect(await readdir(join(home, "safe"))).toEqual([]);
    expect(await readdir(base)).toEqual(before);
    expect(json(await upload("~/nope", "x.txt", Buffer.from("x")))).toMatchObject({
      code: "ERR_FS_NOT_FOUND",
    });
  });

  it("without a session or from another origin nothing is written", async () => {
    const noCookie = await send(
      "PUT",
      `/api/files/upload?${q({ dir: "~", name: "a.txt" })}`,
      Buffer.from("x"),
      {
        authorization: "",
      },
    );
    expect(noCookie.status).toBe(401);
    const foreign = await upload("~", "b.txt", Buffer.from("x"), "fail", {
      origin: "http://evil.example",
    });
    expect(foreign.status).toBe(403);
    expect(
      (
        await send("GET", `/api/files/download?${q({ path: "/etc/hosts" })}`, undefined, {
          authorization: "",
        })
      ).status,
    ).toBe(401);
    expect(await readdir(home)).not.toContain("a.txt");
    expect(await readdir(home)).not.toContain("b.txt");
  });

  it("a signed link downloads once, only its own URL, only while its browser is signed in", async () => {
    await writeFile(join(home, "linked.txt"), "linked");
    const url = `/api/files/download?${q({ path: "~/linked.txt" })}`;
    const makeLink = async (body: unknown) =>
      send("POST", "/api/auth/link", Buffer.from(JSON.stringify(body)), {
        "content-type": "application/json",
      });
    const made = await makeLink({ url });
    expect(made.status, made.body.toString()).toBe(200);
    const link = json(made).url as string;
    expect(link).toContain("link=");
    const plain = { authorization: "" };
    const first = await send("GET", link, undefined, plain);
    expect(first.status).toBe(200);
    expect(first.body.toString()).toBe("linked");
    // Used up.
    expect((await send("GET", link, undefined, plain)).status).toBe(401);
    // Bound to its URL: another path with the same signature is refused.
    await writeFile(join(home, "other.txt"), "other");
    const other = link.replace("linked.txt", "other.txt");
    expect(other).not.toBe(link);
    expect((await send("GET", other, undefined, plain)).status).toBe(401);
    // Only for downloads (and opening remote sessions), not for the rest of the API.
    const session = await makeLink({ url: "/api/session" });
    expect(session.status).toBe(400);
    expect(json(session).code).toBe("ERR_GATEWAY_LINK");
    expect((await makeLink({ url: "//evil.example/api/files/download" })).status).toBe(400);
    // A link of a browser that signed out opens nothing.
    const gone = await sessions.create("leaving");
    const parked = json(
      await send("POST", "/api/auth/link", Buffer.from(JSON.stringify({ url })), {
        "content-type": "application/json",
        authorization: `Bearer ${gone}`,
      }),
    ).url as string;
    await sessions.revoke(gone.split(".")[0]!);
    expect((await send("GET", parked, undefined, plain)).status).toBe(401);
  });

  it("an aborted upload leaves nothing behind", async () => {
    await mkdir(join(home, "aborted"));
    const chunk = Buffer.alloc(256 * 1024, 7);
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: "127.0.0.1",
        port,
        method: "PUT",
        path: `/api/files/upload?${q({ dir: "~/aborted", name: "big.bin" })}`,
        headers: {
          ...headers(),
          "content-type": "application/octet-stream",
          "content-length": String(100 * chunk.length),
        },
      });
      req.on("error", () => resolve());
      let sent = 0;
      const pump = () => {
        while (sent < 20) {
          sent++;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        // Wait until the temp file exists with bytes in it, then cut the connection.
        void until("bytes on disk", async () => {
          const names = await readdir(join(home, "aborted"));
          for (const n of names) if ((await stat(join(home, "aborted", n))).size > 0) return true;
          return false;
        }).then(() => {
          req.destroy();
          resolve();
        });
      };
      pump();
    });
    await until(
      "temp file removed",
      async () => (await readdir(join(home, "aborted"))).length === 0,
      10_000,
    );
    expect(await readdir(join(home, "aborted"))).toEqual([]);
  });

  it("a full disk is a clear error and leaves nothing", {
    skip: process.getuid?.() !== 0,
  }, async () => {
    const small = join(base, "small");
    await mkdir(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", small]);
    try {
      await symlink(small, join(home, "small"));
      const r = await upload("~/small", "too-big.bin", Buffer.alloc(3 * 1024 * 1024, 1));
      expect(r.status).toBe(507);
      expect(json(r)).toMatchObject({ code: "ERR_FS_NO_SPACE" });
      expect(json(r).message).toMatch(/no space left/);
      expect(await readdir(small)).toEqual([]);
    } finally {
      execFileSync("umount", [small]);
    }
  });

  it("1 GB upload streams to disk with bounded memory", async () => {
    const size = 1024 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 42);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= size) return void this.push(null);
        sent += chunk.length;
        this.push(chunk);
      },
    });
    try {
      const r = await upload("~", "huge.bin", body, "fail", { "content-length": String(size) });
      expect(r.status).toBe(201);
      expect(json(r)).toMatchObject({ size });
      expect((await stat(join(home, "huge.bin"))).size).toBe(size);
    } finally {
      clearInterval(sampler);
      await rm(join(home, "huge.bin"), { force: true });
    }
    const growthMb = (peak - rssBefore) / 1024 / 1024;
    expect(growthMb).toBeLessThan(128);
  });

  it("downloads with Content-Disposition, Range and folders as tar", async () => {
    await writeFile(join(home, "ünï code.txt"), "0123456789abcdefghij");
    const path = "~/ünï code.txt";
    const full = await send("GET", `/api/files/download?${q({ path })}`);
    expect(full.status).toBe(200);
    expect(full.body.toString()).toBe("0123456789abcdefghij");
    expect(full.headers["content-disposition"]).toBe(contentDisposition("ünï code.txt"));
    expect(full.headers["content-disposition"]).toContain(
      "filename*=UTF-8''%C3%BCn%C3%AF%20code.txt",
    );
    expect(full.headers["accept-ranges"]).toBe("bytes");
    expect(full.headers["content-length"]).toBe("20");
    const part = await send("GET", `/api/files/download?${q({ path })}`, undefined, {
      range: "bytes=5-9",
    });
    expect(part.status).toBe(206);
    expect(part.body.toString()).toBe("56789");
    expect(part.headers["content-range"]).toBe("bytes 5-9/20");
    const tail = await send("GET", `/api/files/download?${q({ path })}`, undefined, {
      range: "bytes=-3",
    });
    expect(tail.body.toString()).toBe("hij");
    const beyond = await send("GET", `/api/files/download?${q({ path })}`, undefined, {
      range: "bytes=50-",
    });
    expect(beyond.status, beyond.body.toString()).toBe(416);
    expect(beyond.headers["content-range"]).toBe("bytes */20");
    expect(parseRange("bytes=0-", 0)).toBeNull();
    expect(parseRange("bytes=0-1,3-4", 10)).toBeUndefined();

    expect(
      (await send("GET", `/api/files/download?${q({ path: "/etc/hosts" })}`)).body.toString(),
    ).toContain("localhost");
    expect(
      json(await send("GET", `/api/files/download?${q({ path: "~/missing" })}`)),
    ).toMatchObject({
      code: "ERR_FS_NOT_FOUND",
    });
    // A named pipe would block the download until a writer comes: refused at once.
    execFileSync("mkfifo", [join(home, "pipe")]);
    const pipe = await send("GET", `/api/files/download?${q({ path: "~/pipe" })}`);
    expect([pipe.status, json(pipe).code]).toEqual([409, "ERR_FS_NOT_FILE"]);

    await mkdir(join(home, "folder/sub"), { recursive: true });
    await writeFile(join(home, "folder/a.txt"), "A");
    await writeFile(join(home, "folder/sub/b.txt"), "BB");
    await symlink("/", join(home, "folder/root-link"));
    const tar = await send("GET", `/api/files/download?${q({ path: "~/folder" })}`);
    expect(tar.status).toBe(200);
    expect(tar.headers["content-disposition"]).toContain('filename="folder.tar"');
    const entries: Record<string, string> = {};
    const ex = extract();
    const done = new Promise<void>((resolve, reject) => {
      ex.on("entry", (header, stream, next) => {
        const parts: Buffer[] = [];
        stream.on("data", (c: unknown) => {
          parts.push(c as Buffer);
        });
        stream.on("end", () => {
          entries[header.name] =
            header.type === "symlink" ? `-> ${header.linkname}` : Buffer.concat(parts).toString();
          next();
        });
      });
      ex.on("finish", resolve);
      ex.on("error", reject);
    });
    ex.end(tar.body);
    await done;
    expect(entries).toEqual({
      folder: "",
      "folder/a.txt": "A",
      "folder/root-link": "-> /",
      "folder/sub": "",
      "folder/sub/b.txt": "BB",
    });
  });
});
