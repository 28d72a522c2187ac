import { copyFile, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCommandAnswer, requestReply } from "../../shared/command-client.js";
import type { CommandReply } from "../../shared/commands.js";
import type { DocView } from "../../shared/docs.js";
import { parseNotebook, serializeNotebook } from "../../shared/notebook.js";
import { notebookIdForPath } from "../../shared/notebook-doc.js";
import {
  Buckets,
  docSubjects,
  Keys,
  ServiceNames,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { lastSubjectSeq } from "../runtime/stream-read.js";
import { Supervisor } from "../runtime/supervisor.js";
import { docsService } from "./index.js";
import { NodeNotebook } from "./notebook-test-kit.js";
import { docsCommand } from "./test-kit.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "test", "fixtures", "notebooks");

describe("docs service: notebooks", () => {
  let t: TestNats;
  let home: string;
  let supervisor: Supervisor;
  const open: NodeNotebook[] = [];

  beforeAll(async () => {
    t = await setup({ streams: true });
    const base = await realpath(await mkdtemp(join(tmpdir(), "cocalc-nb-")));
    home = join(base, "home");
    await mkdir(home);
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([
      docsService({ home, sandbox: home, saveDelayMs: 100, snapshotEvery: 5 }),
    ]);
  });
  afterAll(async () => {
    for (const n of open) await n.stop();
    await supervisor?.stop();
    await t?.cleanup();
    if (home) await rm(join(home, ".."), { recursive: true, force: true });
  });

  async function fixture(name: string, as = name): Promise<string> {
    const path = join(home, as);
    await copyFile(join(FIXTURES, name), path);
    return path;
  }

  async function openNb(path: string, client?: string) {
    const n = await NodeNotebook.open(t.nc, TEST_WSID, path, client);
    open.push(n);
    await until(`${path} loaded`, async () => n.ids.length > 0 || n.sync.seq > 0);
    return n;
  }

  const streamHead = (path: string) =>
    lastSubjectSeq(t.jsm, Streams.WS_DOCS, docSubjects(TEST_WSID, notebookIdForPath(path)).patches);

  /** The file once it holds what `ok` wants, parsed (so valid nbformat) and round-tripping. */
  async function diskWhen(path: string, ok: (text: string) => boolean) {
    const text = await until(`${path} on disk`, async () => {
      const s = await readFile(path, "utf8").catch(() => "");
      return ok(s) && s;
    });
    const nb = parseNotebook(text);
    expect(serializeNotebook(nb)).toBe(text);
    return nb;
  }

  it("notebooks - opening changes nothing on disk; two clients edit different cells and the same cell", async () => {
    const path = await fixture("every-output.ipynb");
    const original = await readFile(path, "utf8");
    const a = await openNb(path, "clientA");
    const b = await openNb(path, "clientB");
    expect(a.ids).toEqual(b.ids);
    expect(a.ids[0]).toBe("md-intro");
    expect(await readFile(path, "utf8")).toBe(original);

    // Different cells at once, then the same cell at once.
    await Promise.all([
      a.edit("c-plain", (s) => s.replace("6 * 7", "6 * 7  # A")),
      b.edit("md-intro", (s) => `${s}\n\nB was here`),
    ]);
    await Promise.all([a.edit("c-json", (s) => `# A\n${s}`), b.edit("c-json", (s) => `${s}\n# B`)]);
    await Promise.all([a.settled(), b.settled()]);
    const want = "# A\nJSON({'answer': 42})\n# B";
    await until("both see both edits", async () =>
      [a, b].every(
        (n) =>
          n.text("c-json") === want &&
          n.text("c-plain") === "6 * 7  # A" &&
          n.text("md-intro").endsWith("B was here"),
      ),
    );
    const nb = await diskWhen(path, (s) => s.includes('"# B"'));
    expect(nb.cells.find((c) => c.id === "c-json")!.source).toBe(want);
    // Everything else is as it was: outputs, metadata, keys.
    expect(nb.metadata).toBe(parseNotebook(original).metadata);
    expect(nb.cells.find((c) => c.id === "c-images")).toEqual(
      parseNotebook(original).cells.find((c) => c.id === "c-images"),
    );
  });

  it("notebooks - structure changes reach every client and the file", async () => {
    const path = await fixture("every-output.ipynb", "structure.ipynb");
    const a = await openNb(path);
    const b = await openNb(path);
    await a.change({
      op: "insert",
      after: "c-plain",
      cells: [{ id: "new-1", cell_type: "code", source: "x = 1\ny = 2" }],
    });
    await a.change({ op: "move", id: "raw-1", after: null });
    await b.change({ op: "delete", ids: ["c-empty"] });
    await b.change({ op: "type", id: "c-stream", cell_type: "markdown" });
    await a.change({ op: "clear", ids: ["c-result", "c-error"] });
    await until("b has the new cell", async () => b.ids.includes("new-1"));
    const split = b.sync.confirmed("new-1")!;
    await b.change({ op: "split", id: "new-1", base: split.seq, at: 6, newId: "new-2" });
    await a.change({ op: "merge", id: "c-result", next: "c-images" });
    const order = [
      "raw-1",
      "md-intro",
      "c-stream",
      "c-result",
      "c-json",
      "c-plain",
      "new-1",
      "new-2",
      "c-error",
    ];
    await until("both have the order", async () =>
      [a, b].every((n) => JSON.stringify(n.ids) === JSON.stringify(order)),
    );
    expect(a.text("new-1")).toBe("x = 1\n");
    expect(a.text("new-2")).toBe("y = 2");
    expect(b.text("c-result")).toBe("df\nshow_images()");
    const nb = await diskWhen(path, (s) => s.includes('"new-2"') && !s.includes('"c-images"'));
    expect(nb.cells.map((c) => c.id)).toEqual(order);
    const byId = new Map(nb.cells.map((c) => [c.id, c]));
    expect(byId.get("c-stream")!.cell_type).toBe("markdown");
    expect(byId.get("c-stream")!.outputs).toBeUndefined();
    expect(byId.get("c-error")!.outputs).toBe("[]");
    expect(byId.get("c-error")!.execution_count).toBeNull();
    // A page that opens now starts from a snapshot and has the same notebook.
    const c = await openNb(path);
    expect(c.fromSnapshot).toBeGreaterThan(1);
    await until("c has the order", async () => JSON.stringify(c.ids) === JSON.stringify(order));
    expect(c.text("new-2")).toBe("y = 2");
    await c.edit("new-2", (s) => `${s}  # from c`);
    await until("a sees c's edit", async () => a.text("new-2") === "y = 2  # from c");
    expect(byId.get("new-1")!.keys).toEqual([
      "cell_type",
      "execution_count",
      "id",
      "metadata",
      "outputs",
      "source",
    ]);
  });

  it("notebooks - an outside change while open is merged cell by cell", async () => {
    const path = await fixture("every-output.ipynb", "outside.ipynb");
    const a = await openNb(path);
    await a.edit("c-plain", () => "6 * 7  # typed in the page");
    await a.settled();
    await diskWhen(path, (s) => s.includes("typed in the page"));
    // Someone else (git, an agent) edits another cell, adds one and deletes one, all at once,
    // from the file as it is now.
    const nb = parseNotebook(await readFile(path, "utf8"));
    nb.cells = nb.cells.filter((c) => c.id !== "raw-1");
    const md = nb.cells.find((c) => c.id === "md-intro")!;
    md.source = md.source.replace("# Every output", "# Every output (edited outside)");
    nb.cells.splice(1, 0, { ...nb.cells[0]!, id: "from-git", source: "added outside" });
    await writeFile(path, serializeNotebook(nb));
    // The merge is several events (delete, insert, patch): wait for the last of them.
    await until(
      "the page sees the outside change",
      async () => a.ids.includes("from-git") && a.text("md-intro").includes("(edited outside)"),
    );
    expect(a.ids).not.toContain("raw-1");
    expect(a.ids.slice(0, 2)).toEqual(["md-intro", "from-git"]);
    expect(a.text("md-intro")).toContain("(edited outside)");
    expect(a.text("c-plain")).toBe("6 * 7  # typed in the page");
    // A page edit after the merge is written with the outside change in place.
    await a.edit("c-plain", (s) => `${s}!`);
    const disk = await diskWhen(path, (s) => s.includes("typed in the page!"));
    expect(disk.cells.map((c) => c.id).slice(0, 2)).toEqual(["md-intro", "from-git"]);
    expect(disk.cells.find((c) => c.id === "md-intro")!.source).toContain("(edited outside)");
  });

  it("notebooks - a 4.4 file (no ids) edited outside is merged by matching cells", async () => {
    const path = await fixture("nbformat-4-4.ipynb");
    const original = await readFile(path, "utf8");
    const a = await openNb(path);
    const [first, second, third] = a.ids;
    const nb = parseNotebook(original);
    nb.cells[1]!.source = `${nb.cells[1]!.source}\n# changed outside`;
    await writeFile(path, serializeNotebook(nb));
    await until("the change arrives", async () => a.text(second!).endsWith("# changed outside"));
    expect(a.ids).toEqual([first, second, third]);
    await a.edit(third!, (s) => `${s} # page`);
    const disk = await diskWhen(path, (s) => s.includes("# page"));
    expect(disk.nbformat_minor).toBe(4);
    expect(await readFile(path, "utf8")).not.toContain('"id"');
  });

  it("notebooks - after a restart the stream is replayed and a change made meanwhile merged", async () => {
    const path = await fixture("every-output.ipynb", "restart.ipynb");
    const a = await openNb(path);
    await a.edit("c-plain", () => "6 * 7  # before the restart");
    await a.settled();
    await diskWhen(path, (s) => s.includes("before the restart"));
    await a.stop();
    await supervisor.stop();
    const nb = parseNotebook(await readFile(path, "utf8"));
    nb.cells.find((c) => c.id === "c-json")!.source = "changed while the service was away";
    await writeFile(path, serializeNotebook(nb));
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([
      docsService({ home, sandbox: home, saveDelayMs: 100, snapshotEvery: 5 }),
    ]);
    const b = await openNb(path);
    await until("the change made meanwhile", async () =>
      b.text("c-json") === "changed while the service was away" ? true : undefined,
    );
    expect(b.text("c-plain")).toBe("6 * 7  # before the restart");
    await b.edit("md-intro", (s) => `${s}\nafter`);
    const disk = await diskWhen(path, (s) => s.includes('"after"'));
    expect(disk.cells.find((c) => c.id === "c-json")!.source).toBe(
      "changed while the service was away",
    );
  });

  it("notebooks - a past version is restored as new changes, and the file is as it was", async () => {
    const path = await fixture("every-output.ipynb", "restore.ipynb");
    const original = await readFile(path, "utf8");
    const a = await openNb(path);
    const opened = a.sync.seq;
    await a.edit("c-plain", () => "changed");
    await a.change({ op: "delete", ids: ["c-images"] });
    await a.change({ op: "move", id: "raw-1", after: null });
    await a.change({ op: "clear", ids: ["c-error"] });
    await a.change({
      op: "insert",
      after: null,
      cells: [{ id: "later", cell_type: "markdown", source: "added later" }],
    });
    await a.settled();
    await diskWhen(path, (s) => s.includes("added later"));
    const r = await docsCommand(t.nc, TEST_WSID, "RestoreNotebook", {
      path,
      seq: opened,
      client: "restorer",
      pid: "restore-1",
    });
    expect(r.ok).toBe(true);
    await until(
      "the page has the old version",
      async () =>
        a.ids.join() ===
        parseNotebook(original)
          .cells.map((c) => c.id)
          .join(),
    );
    expect(a.text("c-plain")).toBe("6 * 7");
    await until("the file is as it was", async () => (await readFile(path, "utf8")) === original);
    const bad = await docsCommand(t.nc, TEST_WSID, "RestoreNotebook", {
      path,
      seq: 1_000_000,
      client: "restorer",
      pid: "restore-2",
    });
    expect(bad.ok ? "ok" : bad.error.code).toBe("ERR_DOC_BASE_UNKNOWN");
  });

  it("notebooks - a viewer's read subject opens a notebook and refuses changes", async () => {
    const path = await fixture("hostile.ipynb", "viewer.ipynb");
    const read = (type: string, data: unknown) =>
      requestReply<CommandReply>(
        t.nc,
        workspaceSubjects(TEST_WSID).read(ServiceNames.docs),
        { type, data },
        { timeoutMs: 10_000, isAnswer: isCommandAnswer },
      );
    expect((await read("OpenNotebook", { path })).ok).toBe(true);
    const before = await streamHead(path);
    const r = await read("ChangeNotebook", {
      path,
      change: { op: "delete", ids: ["h-md"] },
      client: "viewer1",
      pid: "viewer-1",
    });
    expect(r.ok ? "ok" : r.error.code).toBe("ERR_COMMAND_REJECTED");
    expect(await streamHead(path)).toBe(before);
  });

  it("notebooks - a file broken from outside while open is not written over until saved", async () => {
    const path = await fixture("every-output.ipynb", "broken-later.ipynb");
    const a = await openNb(path);
    const kv = await new Kvm(t.nc).open(Buckets.docs);
    const view = async () => {
      const e = await kv.get(Keys.doc(TEST_WSID, notebookIdForPath(path)));
      return e?.operation === "PUT" ? e.json<DocView>() : undefined;
    };
    await writeFile(path, "{ not json");
    await until(
      "the view says the file is invalid",
      async () => (await view())?.disk === "invalid",
    );
    await a.edit("c-plain", () => "edited while the file was broken");
    await a.settled();
    expect(a.text("c-plain")).toBe("edited while the file was broken");
    expect(await readFile(path, "utf8")).toBe("{ not json");
    const r = await docsCommand(t.nc, TEST_WSID, "SaveNotebook", { path });
    expect(r.ok).toBe(true);
    const disk = await diskWhen(path, (s) => s.includes("edited while the file was broken"));
    expect(disk.cells.length).toBe(9);
    await until("the view says present", async () => (await view())?.disk === "present");
  });

  it("notebooks - a broken file opens as its error and text, and nothing is stored", async () => {
    const path = join(home, "broken.ipynb");
    const text =
      '{\n "cells": [\n  {"cell_type": "code", "source": 5}\n ],\n "nbformat": 4, "nbformat_minor": 5, "metadata": {}\n}\n';
    await writeFile(path, text);
    const r = await docsCommand(t.nc, TEST_WSID, "OpenNotebook", { path });
    expect(r.ok).toBe(true);
    const result = (r as { result: { invalid?: { message: string; text: string } } }).result;
    expect(result.invalid?.message).toMatch(/cell 1's source is neither text nor a list of lines/);
    expect(result.invalid?.text).toBe(text);
    expect(await streamHead(path)).toBe(0);
    expect(await readFile(path, "utf8")).toBe(text);
  });

  it("notebooks - hostile commands get clear codes and change nothing", async () => {
    const path = await fixture("hostile.ipynb");
    const a = await openNb(path);
    const before = await streamHead(path);
    const send = async (type: string, data: unknown) => {
      const r = await docsCommand(t.nc, TEST_WSID, type, data);
      return r.ok ? "ok" : r.error.code;
    };
    const change = (c: unknown) =>
      send("ChangeNotebook", {
        path,
        change: c,
        client: "attacker1",
        pid: `p-${Math.random()}`.replace(".", ""),
      });
    expect(
      await send("PatchCell", {
        path,
        id: "nope",
        base: before,
        patch: "@@ -0,0 +1 @@\n+x\n",
        client: "attacker1",
        pid: "pid-1",
      }),
    ).toBe("ERR_NOTEBOOK_CELL_UNKNOWN");
    expect(
      await send("PatchCell", {
        path,
        id: "h-md",
        base: before,
        patch: "not a patch",
        client: "attacker1",
        pid: "pid-2",
      }),
    ).toBe("ERR_DOC_PATCH_INVALID");
    expect(
      await send("PatchCell", {
        path,
        id: "h-md",
        base: before + 50,
        patch: "",
        client: "attacker1",
        pid: "pid-3",
      }),
    ).toBe("ERR_DOC_BASE_UNKNOWN");
    expect(
      await change({
        op: "insert",
        after: null,
        cells: [{ id: "../x", cell_type: "code", source: "" }],
      }),
    ).toBe("ERR_COMMAND_INVALID");
    expect(
      await change({
        op: "insert",
        after: null,
        cells: [{ id: "h-md", cell_type: "code", source: "" }],
      }),
    ).toBe("ERR_NOTEBOOK_CHANGE_INVALID");
    expect(await change({ op: "move", id: "h-md", after: "h-md" })).toBe(
      "ERR_NOTEBOOK_CHANGE_INVALID",
    );
    expect(await change({ op: "merge", id: "h-html", next: "h-md" })).toBe(
      "ERR_NOTEBOOK_CHANGE_INVALID",
    );
    expect(await change({ op: "split", id: "h-md", base: before, at: 100000, newId: "s1" })).toBe(
      "ERR_NOTEBOOK_CHANGE_INVALID",
    );
    expect(
      await change({
        op: "outputs",
        id: "h-html",
        outputs: '[{"output_type":"evil"}]',
        execution_count: 1,
      }),
    ).toBe("ERR_NOTEBOOK_INVALID");
    expect(await change({ op: "outputs", id: "h-md", outputs: "[]", execution_count: 1 })).toBe(
      "ERR_NOTEBOOK_CHANGE_INVALID",
    );
    expect(await send("OpenNotebook", { path: "/etc/passwd.ipynb" })).not.toBe("ok");
    expect(await streamHead(path)).toBe(before);
    expect(a.ids).toEqual(["h-md", "h-html", "h-math"]);
    // Outputs a kernel reports are kept as given, and written.
    const outputs = JSON.stringify([{ name: "stdout", output_type: "stream", text: ["hi\n"] }]);
    expect(await change({ op: "outputs", id: "h-html", outputs, execution_count: 7 })).toBe("ok");
    const disk = await diskWhen(path, (s) => s.includes('"hi\\n"'));
    expect(disk.cells[1]!.execution_count).toBe(7);
  });

  it("notebooks - a kernel chosen is named in the metadata: the file and every client have it", async () => {
    const path = await fixture("every-output.ipynb", "kernel.ipynb");
    const a = await openNb(path);
    const b = await openNb(path);
    const spec = { name: "py-alt", display_name: "Python (alt)", language: "python" };
    await a.change({ op: "kernel", kernelspec: spec });
    await until("b sees the kernelspec", async () =>
      b.sync.state!.nb.metadata.includes('"py-alt"'),
    );
    const nb = await diskWhen(path, (s) => s.includes('"py-alt"'));
    const metadata = JSON.parse(nb.metadata) as Record<string, { name?: string }>;
    expect(metadata.kernelspec).toEqual(spec);
    expect(metadata.language_info!.name).toBe("python");
    // Chosen again: nothing stored. A bad name: refused, nothing stored.
    const head = await streamHead(path);
    expect(await a.change({ op: "kernel", kernelspec: spec })).toEqual([]);
    await expect(
      a.change({ op: "kernel", kernelspec: { ...spec, name: "../evil" } }),
    ).rejects.toThrow(/ERR_COMMAND_INVALID/);
    expect(await streamHead(path)).toBe(head);
  });
});
