import { mkdir, mkdtemp, readFile, realpath, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DocView } from "../../shared/docs.js";
import { NOTEBOOK_MAX_BYTES, parseNotebook, serializeNotebook } from "../../shared/notebook.js";
import {
  NOTEBOOK_EVENT_MAX_BYTES,
  notebookIdForPath,
  type OpenNotebookResult,
} from "../../shared/notebook-doc.js";
import { Buckets, docSubjects, Keys, Streams } from "../../shared/subjects.js";
import { bigNotebook } from "../../test/helpers/big-notebook.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { lastSubjectSeq, readSubjectMessages } from "../runtime/stream-read.js";
import { Supervisor } from "../runtime/supervisor.js";
import { docsService } from "./index.js";
import { NodeNotebook } from "./notebook-test-kit.js";
import { docsCommand } from "./test-kit.js";

describe("docs service: large notebooks", () => {
  let t: TestNats;
  let home: string;
  let supervisor: Supervisor;
  const open: NodeNotebook[] = [];
  /** About 5.5 MiB: 20 images of 190 KB and one of 700 KB (larger than a message). */
  const big = bigNotebook({ cells: 20, imageBytes: 190_000, hugeImageBytes: 700_000 });

  const start = async () => {
    supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog, heartbeatMs: 500 });
    await supervisor.start([
      docsService({ home, sandbox: home, saveDelayMs: 100, snapshotEvery: 5 }),
    ]);
  };

  beforeAll(async () => {
    t = await setup({ streams: true });
    const base = await realpath(await mkdtemp(join(tmpdir(), "cocalc-nbl-")));
    home = join(base, "home");
    await mkdir(home);
    await start();
  });
  afterAll(async () => {
    for (const n of open) await n.stop();
    await supervisor?.stop();
    await t?.cleanup();
    if (home) await rm(join(home, ".."), { recursive: true, force: true });
  });

  async function openNb(path: string) {
    const n = await NodeNotebook.open(t.nc, TEST_WSID, path);
    open.push(n);
    await until(`${path} loaded`, async () => n.ids.length > 0);
    return n;
  }

  const messages = (path: string) =>
    readSubjectMessages(
      t.js,
      Streams.WS_DOCS,
      docSubjects(TEST_WSID, notebookIdForPath(path)).patches,
      0,
      Number.MAX_SAFE_INTEGER,
    );

  const streamHead = (path: string) =>
    lastSubjectSeq(t.jsm, Streams.WS_DOCS, docSubjects(TEST_WSID, notebookIdForPath(path)).patches);

  const diskWhen = (path: string, ok: (text: string) => boolean) =>
    until(`${path} on disk`, async () => {
      const s = await readFile(path, "utf8").catch(() => "");
      return ok(s) && s;
    });

  it("large notebooks - a 5 MiB notebook with images opens in parts, an edit is saved, the rest of the file is byte for byte as it was", async () => {
    expect(big.length).toBeGreaterThan(5 * 1024 * 1024);
    const path = join(home, "big.ipynb");
    await writeFile(path, big);
    const a = await openNb(path);
    const b = await openNb(path);
    expect(a.ids).toHaveLength(22);
    expect(b.ids.at(-1)).toBe("last");
    // Every message of its stream fits the limit; the opening took many.
    const stored = await messages(path);
    expect(stored.length).toBeGreaterThan(20);
    for (const m of stored) expect(m.data.length).toBeLessThanOrEqual(NOTEBOOK_EVENT_MAX_BYTES);
    // The image larger than a message is whole.
    const huge = JSON.parse(a.sync.cell("c0")!.outputs!) as { data?: Record<string, string> }[];
    expect(huge[1]!.data!["image/png"]!.length).toBeGreaterThan(900_000);
    expect(serializeNotebook(a.sync.state!.nb)).toBe(big);
    const kv = await new Kvm(t.nc).open(Buckets.docs);
    const view = await until("the docs view", async () => {
      const e = await kv.get(Keys.doc(TEST_WSID, notebookIdForPath(path)));
      return e?.operation === "PUT" ? e.json<DocView>() : undefined;
    });
    expect(view).toMatchObject({ kind: "notebook", path, length: 22 });
    expect(await readFile(path, "utf8")).toBe(big);

    await a.edit("c7", (s) => s.replace("# cell 7", "# cell 7, edited"));
    await a.settled();
    await until("b sees the edit", async () => b.text("c7").startsWith("# cell 7, edited"));
    const disk = await diskWhen(path, (s) => s.includes("cell 7, edited"));
    expect(disk).toBe(big.replace('"# cell 7\\n"', '"# cell 7, edited\\n"'));
  });

  it("large notebooks - an outside change merges, a restart replays the parts, a restore brings an image back", async () => {
    const path = join(home, "outside-big.ipynb");
    await writeFile(path, big);
    const a = await openNb(path);
    const opened = a.sync.seq;
    await a.edit("c3", (s) => `${s}  # typed in the page`);
    await a.settled();
    await diskWhen(path, (s) => s.includes("typed in the page"));
    // Outside: a cell with an image deleted, a new cell with the huge image, a text change.
    const nb = parseNotebook(await readFile(path, "utf8"));
    const c0 = nb.cells.find((c) => c.id === "c0")!;
    nb.cells = nb.cells.filter((c) => c.id !== "c5");
    nb.cells.splice(2, 0, { ...c0, id: "from-git", source: "copied outside" });
    nb.cells.find((c) => c.id === "c9")!.source = "# changed outside";
    await writeFile(path, serializeNotebook(nb));
    await until(
      "the page sees the outside change",
      async () => a.ids.includes("from-git") && a.text("c9") === "# changed outside",
    );
    expect(a.ids).not.toContain("c5");
    expect(a.sync.cell("from-git")!.outputs).toBe(c0.outputs);
    expect(a.text("c3")).toContain("typed in the page");
    for (const m of await messages(path))
      expect(m.data.length).toBeLessThanOrEqual(NOTEBOOK_EVENT_MAX_BYTES);

    // After a restart the service folds the parts again and goes on.
    await a.stop();
    await supervisor.stop();
    await start();
    const b = await openNb(path);
    await until("b has the merged notebook", async () => b.ids.includes("from-git"));
    expect(b.text("c3")).toContain("typed in the page");
    // The version as opened, restored: c5 and its image come back, from-git goes.
    const r = await docsCommand(t.nc, TEST_WSID, "RestoreNotebook", {
      path,
      seq: opened,
      client: "restorer1",
      pid: "restore-1",
    });
    expect(r.ok).toBe(true);
    await until(
      "b sees the restore",
      async () => b.ids.includes("c5") && !b.ids.includes("from-git"),
    );
    const disk = await diskWhen(path, (s) => !s.includes("from-git") && s.includes('"c5"'));
    expect(disk).toBe(big);
  });

  it("large notebooks - a file over the limit is refused with the limit; a long broken file shows its start", async () => {
    const path = join(home, "huge.ipynb");
    await writeFile(path, "");
    await truncate(path, NOTEBOOK_MAX_BYTES + 1);
    const r = await docsCommand(t.nc, TEST_WSID, "OpenNotebook", { path });
    expect(r.ok && (r.result as OpenNotebookResult)).toMatchObject({
      refused: "too-large",
      size: NOTEBOOK_MAX_BYTES + 1,
      limit: NOTEBOOK_MAX_BYTES,
    });
    const broken = join(home, "broken-big.ipynb");
    await writeFile(broken, `${big.slice(0, 2_000_000)}`);
    const b = await docsCommand(t.nc, TEST_WSID, "OpenNotebook", { path: broken });
    const invalid = b.ok ? (b.result as OpenNotebookResult).invalid : undefined;
    expect(invalid?.message).toMatch(/not valid JSON/);
    expect(invalid?.length).toBe(2_000_000);
    expect(big.startsWith(invalid!.text)).toBe(true);
    expect((await streamHead(path)) + (await streamHead(broken))).toBe(0);
  });
});
