import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliverPolicy } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FsEvent, FsReply, FsRequest, FsResults } from "../../shared/files.js";
import {
  MAX_SEARCH_LINES,
  SEARCH_PAGE_LINES,
  type SearchPage,
  type SearchQuery,
  searchQuery,
} from "../../shared/search.js";
import { Streams, workspaceSubjects } from "../../shared/subjects.js";
import { setup, TEST_WSID, type TestNats, testLog } from "../../test/helpers/nats.js";
import { PathResolver } from "../runtime/paths.js";
import { Supervisor } from "../runtime/supervisor.js";
import { fsService } from "./index.js";
import { FileSearches } from "./search.js";

const subjects = workspaceSubjects(TEST_WSID);
const hasRg = spawnSync("rg", ["--version"]).status === 0;
if (!hasRg) console.warn("search tests skipped: ripgrep (rg) is not installed");

const query = searchQuery;

describe.skipIf(!hasRg)("fs search", () => {
  let t: TestNats;
  let base: string;
  let home: string;
  let supervisor: Supervisor;

  beforeAll(async () => {
    t = await setup({ streams: true });
    base = await realpath(await mkdtemp(join(tmpdir(), "cocalc-search-")));
    home = join(base, "home");
    await mkdir(join(home, "proj/src"), { recursive: true });
    await mkdir(join(home, "proj/build"), { recursive: true });
    await writeFile(join(home, "proj/.gitignore"), "build/\n");
    await writeFile(join(home, "proj/src/a.ts"), "const Hello = 1;\nfoo\nbar hello\nhelloworld\n");
    await writeFile(join(home, "proj/src/b.md"), "# hello docs\n");
    await writeFile(join(home, "proj/build/out.ts"), "hello from build\n");
    await writeFile(join(home, "proj/src/a;rm -rf x $(touch pwned).txt"), "hello metachars\n");
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([fsService({ home })]);
  });
  afterAll(async () => {
    await supervisor?.stop();
    await t?.cleanup();
    if (base) await rm(base, { recursive: true, force: true });
  });

  async function raw(req: unknown): Promise<FsReply> {
    const m = await t.nc.request(subjects.request("fs"), JSON.stringify(req), { timeout: 30_000 });
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

  /** Every page of a search, asked for one after the other as the page does. */
  async function searchAll(q: SearchQuery, path = "~/proj", context = 0) {
    const pages: SearchPage[] = [
      await call({ op: "search", path, query: q, context, client: "test-client" }),
    ];
    while (!pages.at(-1)!.done) pages.push(await call({ op: "search-more", id: pages[0]!.id }));
    const lines = pages.flatMap((p) =>
      p.files.flatMap((f) => f.lines.map((l) => ({ path: f.path, ...l }))),
    );
    return { pages, lines, last: pages.at(-1)! };
  }

  it("search - finds matches with context, leaves out what .gitignore ignores", async () => {
    const { lines, last } = await searchAll(query("hello"), "~/proj", 1);
    const matched = lines.filter((l) => l.ranges);
    const files = [...new Set(matched.map((l) => l.path))].sort();
    expect(files).toEqual(
      [
        join(home, "proj/src/a.ts"),
        join(home, "proj/src/a;rm -rf x $(touch pwned).txt"),
        join(home, "proj/src/b.md"),
      ].sort(),
    );
    const a = lines.filter((l) => l.path === join(home, "proj/src/a.ts"));
    // Line 2 is context (between two matches); ranges are the match's characters.
    expect(a.map((l) => [l.line, l.ranges !== undefined])).toEqual([
      [1, true],
      [2, false],
      [3, true],
      [4, true],
    ]);
    expect(a[2]!.ranges).toEqual([[4, 9]]);
    expect(last).toMatchObject({ done: true, capped: false, matches: 5, filesMatched: 3 });
  });

  it("search - case, whole word, regex, include and exclude globs", async () => {
    const at = async (q: SearchQuery) =>
      (await searchAll(q)).lines.map((l) => `${l.path.slice(home.length + 1)}:${l.line}`).sort();
    expect(await at(query("Hello", { caseSensitive: true }))).toEqual(["proj/src/a.ts:1"]);
    expect(await at(query("hello", { wholeWord: true, include: ["*.ts"] }))).toEqual([
      "proj/src/a.ts:1",
      "proj/src/a.ts:3",
    ]);
    expect(await at(query("^hel+o\\w+$", { regex: true }))).toEqual(["proj/src/a.ts:4"]);
    expect(await at(query("hello", { exclude: ["*.ts", "*.txt"] }))).toEqual(["proj/src/b.md:1"]);
    // The same text as a literal finds nothing.
    expect(await at(query("^hel+o", { regex: false }))).toEqual([]);
  });

  it("search - a hostile pattern or file name is only text to ripgrep", async () => {
    const before = await readdir(join(home, "proj/src"));
    for (const pattern of ["$(touch pwned)", "--files", "-e", "`touch pwned`; rm -rf ~", "'\"\\"]) {
      const { last } = await searchAll(query(pattern));
      expect(last.done).toBe(true);
    }
    const { lines } = await searchAll(query("metachars"));
    expect(lines.map((l) => l.path)).toEqual([
      join(home, "proj/src/a;rm -rf x $(touch pwned).txt"),
    ]);
    expect(await readdir(join(home, "proj/src"))).toEqual(before);
    expect(
      await errorOf({
        op: "search",
        path: "~/proj",
        query: query("a\u0000b"),
        context: 0,
        client: "c",
      }),
    ).toBe("ERR_FS_REQUEST");
    expect(
      await errorOf({
        op: "search",
        path: "~/proj",
        query: query("(", { regex: true }),
        context: 0,
        client: "c",
      }),
    ).toBe("ERR_SEARCH_PATTERN");
    expect(
      await errorOf({ op: "search", path: "~/nope", query: query("x"), context: 0, client: "c" }),
    ).toBe("ERR_FS_NOT_FOUND");
  });

  it("search - a huge result set comes in pages and stops at the cap", async () => {
    await mkdir(join(home, "huge"));
    await writeFile(join(home, "huge/many.txt"), "needle\n".repeat(MAX_SEARCH_LINES * 3));
    const { pages, lines, last } = await searchAll(query("needle"), "~/huge");
    expect(lines.length).toBe(MAX_SEARCH_LINES);
    expect(last).toMatchObject({ done: true, capped: true, matches: MAX_SEARCH_LINES });
    for (const p of pages)
      expect(p.files.reduce((n, f) => n + f.lines.length, 0)).toBeLessThanOrEqual(
        SEARCH_PAGE_LINES,
      );
    expect(await errorOf({ op: "search-more", id: pages[0]!.id })).toBe("ERR_SEARCH_GONE");
  });

  it("search - stop ends a search; a client's next search ends its previous one", async () => {
    const first = await call({
      op: "search",
      path: "~/huge",
      query: query("needle"),
      context: 0,
      client: "c2",
    });
    expect(first.done).toBe(false);
    const second = await call({
      op: "search",
      path: "~/huge",
      query: query("needle"),
      context: 0,
      client: "c2",
    });
    expect(await errorOf({ op: "search-more", id: first.id })).toBe("ERR_SEARCH_GONE");
    expect(await call({ op: "search-stop", id: second.id })).toEqual({ stopped: true });
    expect(await errorOf({ op: "search-more", id: second.id })).toBe("ERR_SEARCH_GONE");
  });

  it("replace - writes each file through the fs service, refuses a file that changed", async () => {
    const file = join(home, "proj/src/r.txt");
    await writeFile(file, "one cat\ntwo cats cat\nno dog\n");
    const q = query("(c)at", { regex: true });
    const { lines } = await searchAll({ ...q, include: ["r.txt"] });
    const expected = lines.filter((l) => l.ranges).length;
    expect(expected).toBe(2);
    const js = t.js;
    const events = await js.consumers.get(Streams.WS_FS, {
      filter_subjects: subjects.fsEvent("written"),
      deliver_policy: DeliverPolicy.New,
    });
    const result = await call({
      op: "replace",
      path: file,
      query: q,
      replacement: "$1ow",
      expect: expected,
    });
    expect(result).toMatchObject({ path: file, replaced: 3 });
    expect(await readFile(file, "utf8")).toBe("one cow\ntwo cows cow\nno dog\n");
    const ev = (await events.next({ expires: 10_000 }))!.json<FsEvent>();
    expect(ev).toMatchObject({ type: "FileWritten", data: { path: file } });
    // The preview counted 2 lines; the file now has 1: nothing is written.
    await writeFile(file, "a cat\n");
    expect(
      await errorOf({ op: "replace", path: file, query: q, replacement: "x", expect: 2 }),
    ).toBe("ERR_SEARCH_CHANGED");
    expect(await readFile(file, "utf8")).toBe("a cat\n");
    // A literal replacement keeps its dollars.
    await call({ op: "replace", path: file, query: query("cat"), replacement: "$1$$", expect: 1 });
    expect(await readFile(file, "utf8")).toBe("a $1$$\n");
  });

  it("find-files - fuzzy names, .gitignore respected, best first", async () => {
    const r = await call({ op: "find-files", path: "~/proj", query: "srcats" });
    expect(r.paths[0]).toBe(join(home, "proj/src/a.ts"));
    const all = await call({ op: "find-files", path: "~/proj", query: "", limit: 500 });
    expect(all.paths.some((p) => p.includes("/build/"))).toBe(false);
    expect(all.paths).toContain(join(home, "proj/src/b.md"));
    expect((await call({ op: "find-files", path: "~/proj", query: "zzzz" })).paths).toEqual([]);
  });

  it("search - a sandbox keeps '..' and symlinks out; without rg the answer says so", async () => {
    const resolver = await PathResolver.create({ home, sandbox: join(home, "proj") });
    const searches = new FileSearches(resolver);
    const r = (path: string) =>
      searches.search({ op: "search", path, query: query("hello"), context: 0, client: "s" });
    await expect(r(join(home, "proj/../huge"))).rejects.toMatchObject({
      code: "ERR_FS_OUTSIDE_SANDBOX",
    });
    await expect(r(home)).rejects.toMatchObject({ code: "ERR_FS_OUTSIDE_SANDBOX" });
    const missing = new FileSearches(resolver, join(base, "no-such-rg"));
    await expect(
      missing.search({
        op: "search",
        path: join(home, "proj"),
        query: query("x"),
        context: 0,
        client: "s",
      }),
    ).rejects.toMatchObject({ code: "ERR_SEARCH_UNAVAILABLE" });
    await expect(
      missing.findFiles({ op: "find-files", path: join(home, "proj"), query: "a" }),
    ).rejects.toMatchObject({ code: "ERR_SEARCH_UNAVAILABLE" });
    searches.clear();
  });
});
