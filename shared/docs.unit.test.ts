import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasAstral, loadTrace, utf16Offset } from "../test/helpers/traces.js";
import { browserPermissions } from "./browser-permissions.js";
import {
  applyEdits,
  applyPatch,
  DocClient,
  DocHead,
  diffEdits,
  docIdForPath,
  type Edit,
  makePatch,
  mapEdits,
  parsePatch,
  restoreUnstored,
  type StreamPatch,
  unapplyPatch,
} from "./docs.js";
import { CocalcError } from "./errors.js";
import { docIdOfSubject, docSubjects, Keys, validateKeyToken } from "./subjects.js";

/** The docs service in miniature: validate, rebase, store in order. */
class Service {
  readonly head: DocHead;
  readonly stream: StreamPatch[] = [];
  constructor(text: string) {
    this.head = new DocHead(text, 0);
  }
  submit(client: string, pid: string, base: number, patch: string): void {
    const edits = this.head.rebase(base, patch);
    const stored = makePatch(this.head.text, edits);
    const seq = this.stream.length + 1;
    this.head.apply(seq, edits);
    this.stream.push({ seq, patch: stored, client, pid });
  }
  outside(text: string): void {
    const edits = diffEdits(this.head.text, text);
    const stored = makePatch(this.head.text, edits);
    const seq = this.stream.length + 1;
    this.head.apply(seq, edits);
    this.stream.push({ seq, patch: stored });
  }
}

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof CocalcError ? err.code : String(err);
  }
  return undefined;
};

describe("patches", () => {
  it("docs - document ids are key tokens, one per path", () => {
    const a = docIdForPath("/home/a/b c.txt");
    expect(validateKeyToken(a)).toBe(a);
    expect(docIdForPath("/home/a/b c.txt")).toBe(a);
    expect(docIdForPath("/home/a/b d.txt")).not.toBe(a);
  });

  it("docs - subjects: patches are stored, presence is not, and the browser may not publish patches", () => {
    const doc = docIdForPath("/home/u/x.py");
    const s = docSubjects("ws1", doc);
    expect(s.patches).toBe(`ws.ws1.doc.${doc}.patch`);
    expect(docIdOfSubject(s.patches)).toBe(doc);
    expect(s.presence.startsWith("ws.ws1.doc.")).toBe(false);
    expect(Keys.docSnapshot("ws1", doc, "head")).toBe(`ws1.${doc}.head`);
    const perms = browserPermissions("ws1", []);
    expect(perms.publish.allow).toContain("ws.ws1.presence.doc.*");
    expect(perms.subscribe.allow).toContain("ws.ws1.presence.doc.*");
    expect(perms.publish.allow.some((p) => p.startsWith("ws.ws1.doc."))).toBe(false);
    expect(() => docSubjects("ws1", "a.b")).toThrow();
  });

  it("docs - a patch round-trips and applies exactly", () => {
    const a = "hello world, this is a text\nwith two lines";
    const edits: Edit[] = [
      { from: 0, to: 5, insert: "HELLO" },
      { from: 12, to: 12, insert: " indeed" },
      { from: 38, to: 42, insert: "" },
    ];
    const patch = makePatch(a, edits);
    expect(parsePatch(patch, a)).toEqual(edits);
    expect(applyPatch(a, patch)).toBe(applyEdits(a, edits));
    expect(applyPatch(a, makePatch(a, diffEdits(a, "x")))).toBe("x");
  });

  it("docs - a patch undone gives the text before it", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const patch = makePatch(a, diffEdits(a, b));
        expect(unapplyPatch(applyPatch(a, patch), patch)).toBe(a);
      }),
    );
    const patch = makePatch("abc", [{ from: 1, to: 2, insert: "XYZ" }]);
    expect(unapplyPatch("aXYZc", patch)).toBe("abc");
    expect(codeOf(() => unapplyPatch("aQQQc", patch))).toBe("ERR_DOC_PATCH_INVALID");
  });

  it("docs - malformed and mismatching patches are refused", () => {
    expect(codeOf(() => parsePatch("@@ nonsense"))).toBe("ERR_DOC_PATCH_INVALID");
    expect(codeOf(() => parsePatch("garbage"))).toBe("ERR_DOC_PATCH_INVALID");
    const patch = makePatch("abcdef", [{ from: 2, to: 3, insert: "X" }]);
    expect(codeOf(() => parsePatch(patch, "zzzzzz"))).toBe("ERR_DOC_PATCH_INVALID");
    expect(codeOf(() => new DocHead("ab", 0).rebase(0, patch))).toBe("ERR_DOC_PATCH_INVALID");
    expect(codeOf(() => new DocHead("abcdef", 3).rebase(7, patch))).toBe("ERR_DOC_BASE_UNKNOWN");
  });

  it("docs - a head started from a snapshot learns older bases from the stream", () => {
    const full = new Service("abc");
    const c = new DocClient("cccc", "abc", 0);
    c.edit("abcX");
    const old = c.take()!; // made against base 0
    full.outside("abcd");
    full.outside("abcde");
    // Restarted from a snapshot at seq 2: base 0 is unknown until seqs 1 and 2 are added back.
    const head = new DocHead("abcde", 2);
    head.apply(3, []);
    expect(codeOf(() => head.rebase(0, old.patch))).toBe("ERR_DOC_BASE_UNKNOWN");
    for (const seq of [2, 1]) {
      const edits = parsePatch(full.stream[seq - 1]!.patch);
      const delta = edits.reduce((n, e) => n + e.insert.length - (e.to - e.from), 0);
      head.prepend(seq, edits, head.oldestLength - delta, seq - 1);
    }
    expect(applyEdits(head.text, head.rebase(0, old.patch))).toBe("abcdeX");
  });

  it("docs - concurrent edits are rebased, inserts at one place both kept", () => {
    const base = "0123456789";
    const a: Edit[] = [{ from: 5, to: 5, insert: "A" }];
    const b: Edit[] = [
      { from: 5, to: 5, insert: "B" },
      { from: 7, to: 9, insert: "" },
    ];
    expect(applyEdits(applyEdits(base, a), mapEdits(b, a))).toBe("01234AB569");
  });
});

describe("convergence", () => {
  const clientCount = fc.integer({ min: 2, max: 5 });
  const step = fc.oneof(
    fc.record({
      kind: fc.constant("edit" as const),
      who: fc.nat(),
      at: fc.nat(),
      del: fc.nat({ max: 4 }),
      text: fc.string({ maxLength: 4 }),
    }),
    fc.record({ kind: fc.constant("send" as const), who: fc.nat() }),
    fc.record({ kind: fc.constant("serve" as const), who: fc.nat() }),
    fc.record({ kind: fc.constant("deliver" as const), who: fc.nat() }),
    fc.record({ kind: fc.constant("outside" as const), at: fc.nat(), text: fc.string() }),
  );

  it("docs - N clients with random edits and delivery delays converge to the service", () => {
    fc.assert(
      fc.property(clientCount, fc.array(step, { maxLength: 120 }), (n, steps) => {
        const start = "The quick brown fox\njumps over the lazy dog\n";
        const service = new Service(start);
        const clients = Array.from({ length: n }, (_, i) => new DocClient(`c${i}xx`, start, 0));
        // What each client sent and the service has not handled yet (a delayed request).
        const outbox = clients.map(() => [] as { pid: string; base: number; patch: string }[]);
        const serve = (i: number) => {
          const m = outbox[i]!.shift();
          if (m) service.submit(clients[i]!.client, m.pid, m.base, m.patch);
        };
        const deliver = (i: number) => {
          const c = clients[i]!;
          const next = service.stream[c.seq];
          if (next) c.receive(next);
        };
        for (const s of steps) {
          if (s.kind === "outside") {
            const t = service.head.text;
            const at = s.at % (t.length + 1);
            service.outside(t.slice(0, at) + s.text + t.slice(at));
            continue;
          }
          const i = s.who % n;
          const c = clients[i]!;
          if (s.kind === "edit") {
            const at = s.at % (c.local.length + 1);
            c.edit(c.local.slice(0, at) + s.text + c.local.slice(at + s.del));
          } else if (s.kind === "send") {
            const p = c.take();
            if (p) outbox[i]!.push(p);
          } else if (s.kind === "serve") serve(i);
          else deliver(i);
        }
        // Quiesce: serve and deliver everything, send what is left, until nothing moves.
        for (let round = 0; round < 100; round++) {
          for (let i = 0; i < n; i++) while (outbox[i]!.length) serve(i);
          for (let i = 0; i < n; i++) while (clients[i]!.seq < service.stream.length) deliver(i);
          let sent = false;
          for (let i = 0; i < n; i++) {
            const p = clients[i]!.take();
            if (p) {
              outbox[i]!.push(p);
              sent = true;
            }
          }
          if (!sent && clients.every((c) => c.idle)) break;
        }
        for (const c of clients) {
          expect(c.idle).toBe(true);
          expect(c.local).toBe(service.head.text);
          expect(c.confirmed).toBe(service.head.text);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("docs - an edit typed by a client is never lost when it only races with others' inserts", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z ]{1,5}$/), fc.nat(), (word, at) => {
        const service = new Service("abc def ghi");
        const a = new DocClient("aaaa", "abc def ghi", 0);
        const b = new DocClient("bbbb", "abc def ghi", 0);
        a.edit(a.local.slice(0, at % 12) + word + a.local.slice(at % 12));
        const typed = a.local;
        b.edit(`X${b.local}Y`);
        const pa = a.take()!;
        const pb = b.take()!;
        service.submit("bbbb", pb.pid, pb.base, pb.patch);
        service.submit("aaaa", pa.pid, pa.base, pa.patch);
        for (const p of service.stream) {
          a.receive(p);
          b.receive(p);
        }
        expect(a.local).toBe(b.local);
        expect(service.head.text.startsWith("X")).toBe(true);
        expect(service.head.text.replace("X", "").replace("Y", "")).toBe(typed);
      }),
    );
  });
});

describe("reload", () => {
  it("docs - edits not stored when a page reloads come back once, in flight included", () => {
    const service = new Service("one two three");
    const a = new DocClient("aaaa", "one two three", 0);
    a.edit("ONE two three");
    const p = a.take()!;
    a.edit("ONE two three four");
    const other = new DocClient("bbbb", "one two three", 0);
    other.edit("zero one two three");
    const q = other.take()!;
    service.submit("bbbb", q.pid, q.base, q.patch);
    const u = a.unstored()!;
    // The page is gone; its patch in flight arrives anyway (or is sent again: stored once).
    service.submit("aaaa", p.pid, p.base, p.patch);
    const reloaded = new DocClient("cccc", "one two three", 0);
    for (const e of service.stream) reloaded.receive(e);
    reloaded.edit(restoreUnstored(u, reloaded.local));
    const r = reloaded.take()!;
    service.submit("cccc", r.pid, r.base, r.patch);
    expect(service.head.text).toBe("zero ONE two three four");
  });
});

describe("editing traces", () => {
  const paper = loadTrace("automerge-paper");

  it.skipIf(!paper)("docs - automerge-paper replays through the patch pipeline", () => {
    const trace = paper!;
    const astral = hasAstral(trace);
    const head = new DocHead(trace.startContent ?? "", 0, 100);
    let reader = trace.startContent ?? "";
    let seq = 0;
    for (const txn of trace.txns) {
      const text = head.text;
      const edits: Edit[] = [];
      for (const [pos, del, ins] of txn.patches) {
        const from = astral ? utf16Offset(text, pos) : pos;
        const to = astral ? utf16Offset(text, pos + del) : pos + del;
        edits.push({ from, to, insert: ins });
      }
      // Several patches of one txn apply in sequence: send them one by one.
      for (const [k, e] of edits.entries()) {
        const patch = makePatch(head.text, k === 0 ? [e] : [e]);
        const rebased = head.rebase(head.head, patch);
        const stored = makePatch(head.text, rebased);
        head.apply(++seq, rebased);
        reader = applyPatch(reader, stored);
      }
    }
    expect(seq).toBeGreaterThanOrEqual(259_778);
    expect(head.text).toBe(trace.endContent);
    expect(reader).toBe(trace.endContent);
  });

  const friends = loadTrace("friendsforever");
  it.skipIf(!friends)("docs - friendsforever: two users editing concurrently converge", () => {
    const trace = friends!;
    const service = new Service(trace.startContent ?? "");
    const clients = [0, 1].map((i) => new DocClient(`agent${i}`, "", 0));
    // The stream sequence each txn's edit was stored at, once sent.
    const storedAt = new Map<number, number>();
    const pendingTxn: (number | undefined)[] = [undefined, undefined];
    const flush = (i: number) => {
      const c = clients[i]!;
      const p = c.take();
      if (p) service.submit(c.client, p.pid, p.base, p.patch);
    };
    const deliverUpTo = (i: number, seq: number) => {
      const c = clients[i]!;
      while (c.seq < seq && c.seq < service.stream.length) c.receive(service.stream[c.seq]!);
    };
    trace.txns.forEach((txn, index) => {
      const i = txn.agent ?? 0;
      const c = clients[i]!;
      // A parent from the other agent: this agent has seen that edit; deliver up to it.
      for (const parent of txn.parents ?? []) {
        if ((trace.txns[parent]!.agent ?? 0) !== i) {
          flush(1 - i);
          const at = storedAt.get(parent) ?? service.stream.length;
          deliverUpTo(i, at);
        }
      }
      let text = c.local;
      for (const [pos, del, ins] of txn.patches) {
        const from = Math.min(utf16Offset(text, pos), text.length);
        const to = Math.min(utf16Offset(text, pos + del), text.length);
        text = text.slice(0, from) + ins + text.slice(to);
      }
      c.edit(text);
      pendingTxn[i] = index;
      // Each agent sends now and then, as a browser would per frame.
      if (index % 3 === 0) {
        flush(i);
        storedAt.set(index, service.stream.length);
      }
    });
    for (let round = 0; round < 10; round++) {
      for (const i of [0, 1]) flush(i);
      for (const i of [0, 1]) deliverUpTo(i, service.stream.length);
    }
    expect(clients[0]!.idle && clients[1]!.idle).toBe(true);
    expect(clients[0]!.local).toBe(service.head.text);
    expect(clients[1]!.local).toBe(service.head.text);
    expect(service.head.text.length).toBeGreaterThan(trace.endContent.length / 2);
  });
});
