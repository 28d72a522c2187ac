import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { violations } from "./check-layers.js";

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "layers-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe("layering check", () => {
  it("passes a tree that keeps the layers", () => {
    const root = tree({
      "shared/a.ts": 'import { Type } from "@sinclair/typebox";\nimport { b } from "./b.js";',
      "shared/b.ts": "export const b = 1;",
      "services/runtime/r.ts": 'import { b } from "../../shared/b.js";',
      "services/x/x.ts":
        'import { r } from "../runtime/r.js";\nimport { s } from "../../streams/s.js";\nimport { readFile } from "node:fs";',
      "web/src/w.tsx":
        'import { b } from "../../shared/b.js";\nimport { createStore } from "solid-js/store";',
      "web/vite.config.ts": 'import { fileURLToPath } from "node:url";',
      "web/src/lib/c.ts": 'import { wsconnect } from "@nats-io/nats-core";',
    });
    expect(violations(root)).toEqual([]);
    rmSync(root, { recursive: true });
  });

  it("fails on Node in shared/, a service importing another, and web importing services", () => {
    const root = tree({
      "shared/a.ts":
        'import { readFile } from "node:fs";\nimport path from "path";\nimport x from "left-pad";',
      "shared/b.ts": 'export { x } from "../services/x/x.js";',
      "services/x/x.ts": 'import { y } from "../y/y.js";',
      "services/y/y.ts": 'const m = await import("../x/x.js");',
      "web/src/w.tsx": 'import { x } from "../../services/x/x.js";\nimport fs from "node:fs";',
    });
    const v = violations(root);
    expect(v).toEqual(
      expect.arrayContaining([
        expect.stringContaining("shared/a.ts: shared/ imports Node module node:fs"),
        expect.stringContaining("shared/a.ts: shared/ imports Node module path"),
        expect.stringContaining("shared/a.ts: shared/ imports package left-pad"),
        expect.stringContaining("shared/b.ts: shared/ imports ../services/x/x.js"),
        expect.stringContaining("services/x/x.ts: service x imports ../y/y.js"),
        expect.stringContaining("services/y/y.ts: service y imports ../x/x.js"),
        expect.stringContaining("web/src/w.tsx: web/ imports ../../services/x/x.js"),
        expect.stringContaining("web/src/w.tsx: web/ imports Node module node:fs"),
      ]),
    );
    expect(v).toHaveLength(8);
    rmSync(root, { recursive: true });
  });

  it("fails on a component that talks to NATS itself", () => {
    const root = tree({
      "web/src/pane.tsx": 'import { jetstream } from "@nats-io/jetstream";',
      "web/src/store.ts": 'import { jetstream } from "@nats-io/jetstream";',
    });
    expect(violations(root)).toEqual([
      expect.stringContaining("web/src/pane.tsx: a component imports @nats-io/jetstream"),
    ]);
    rmSync(root, { recursive: true });
  });

  it("keeps cli/'s products apart, and finds each circle in cli/ once, type imports included", () => {
    const clean = tree({
      "cli/common/usage.ts": "export class UsageError extends Error {}",
      "cli/plus/args.ts": 'import { UsageError } from "../common/usage.js";',
      "cli/plus/main.ts":
        'import { parse } from "./args.js";\nconst { x } = await import("../common/usage.js");',
    });
    expect(violations(clean)).toEqual([]);
    rmSync(clean, { recursive: true });

    const crossed = tree({
      "cli/plus/args.ts": "export const a = 1;",
      "cli/launchpad/args.ts": 'import { a } from "../plus/args.js";',
      "cli/common/usage.ts": 'import type { b } from "../launchpad/args.js";',
    });
    expect(violations(crossed).sort()).toEqual([
      "cli/common/usage.ts: cli/common imports ../launchpad/args.js (share it through cli/common/)",
      "cli/launchpad/args.ts: cli/launchpad imports ../plus/args.js (share it through cli/common/)",
    ]);
    rmSync(crossed, { recursive: true });

    const root = tree({
      "cli/plus/args.ts": 'import type { SyncOptions } from "./sync.js";',
      "cli/plus/sync.ts": 'import { client } from "./client.js";',
      "cli/plus/client.ts": 'export { UsageError } from "./args.js";',
      "cli/launchpad/main.ts": 'const host = await import("./host.js");',
      "cli/launchpad/host.ts": 'import { main } from "./main.js";',
      "cli/common/self.ts": 'import { me } from "./self.js";',
      "cli/common/fine.ts": 'import { me } from "./self.js";',
    });
    const v = violations(root);
    expect(v).toEqual(
      expect.arrayContaining([
        "cli/ has an import circle: cli/common/self.ts → cli/common/self.ts",
        "cli/ has an import circle: cli/launchpad/host.ts → cli/launchpad/main.ts → cli/launchpad/host.ts",
        "cli/ has an import circle: cli/plus/args.ts → cli/plus/sync.ts → cli/plus/client.ts → cli/plus/args.ts",
      ]),
    );
    expect(v).toHaveLength(3);
    rmSync(root, { recursive: true });
  });
});
