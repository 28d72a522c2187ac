/**
 * What the operating system refuses (EACCES) comes back as a clear ERR_FS_PERMISSION, from
 * the fs service and from uploads, and changes nothing. Root is never refused, so when the
 * tests run as root, plus runs as the user nobody here.
 */
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FsReply } from "../../shared/files.js";
import { workspaceSubjects } from "../../shared/subjects.js";
import {
  PLUS_BIN,
  type RunningPlus,
  removeHome,
  signIn,
  startPlus,
  tempHome,
} from "../../test/helpers/plus.js";
import { connectServices } from "../runtime/connect.js";

const NOBODY = { uid: 65534, gid: 65534 };
const asRoot = process.getuid?.() === 0;

if (!existsSync(PLUS_BIN)) console.warn(`permission tests skipped: no ${PLUS_BIN} (npm run build)`);

describe.skipIf(!existsSync(PLUS_BIN))("permission denied", () => {
  let plus: RunningPlus;
  let home: string;
  let nc: NatsConnection;
  let wsid: string;

  beforeAll(async () => {
    home = await tempHome();
    for (const d of ["locked", "private"]) await mkdir(join(home, d));
    await writeFile(join(home, "secret.txt"), "secret");
    if (asRoot) {
      // Home belongs to nobody; these three stay root's and are closed to others.
      await chown(home, NOBODY.uid, NOBODY.gid);
      await chmod(join(home, "locked"), 0o755);
      await chmod(join(home, "private"), 0o700);
      await chmod(join(home, "secret.txt"), 0o600);
    } else {
      await chmod(join(home, "locked"), 0o555);
      await chmod(join(home, "private"), 0o000);
      await chmod(join(home, "secret.txt"), 0o000);
    }
    plus = await startPlus({ home, ...(asRoot && { user: NOBODY }) });
    const run = JSON.parse(await readFile(join(plus.dataDir, "run.json"), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    wsid = run.wsid;
    const seed = (await readFile(join(plus.dataDir, "services.nk"), "utf8")).trim();
    nc = await connectServices({ url: run.natsUrl, seed }, "permissions test");
  });
  afterAll(async () => {
    await nc?.close();
    await plus?.stop();
    if (!asRoot && home) {
      for (const p of ["locked", "private"]) await chmod(join(home, p), 0o755).catch(() => {});
    }
    if (home) await removeHome(home);
  });

  async function fsError(req: unknown): Promise<{ code: string; message: string } | "ok"> {
    const m = await nc.request(workspaceSubjects(wsid).request("fs"), JSON.stringify(req), {
      timeout: 10_000,
    });
    const reply = m.json<FsReply>();
    return reply.ok ? "ok" : reply.error;
  }

  it("listing, reading and creating are refused with a clear message", async () => {
    const list = {
      op: "list",
      offset: 0,
      limit: 10,
      sort: "name",
      desc: false,
      hidden: false,
      filter: "",
    };
    expect(await fsError({ ...list, path: "~/private" })).toEqual({
      code: "ERR_FS_PERMISSION",
      message: "cannot list ~/private: permission denied",
    });
    expect(await fsError({ op: "read", path: "~/secret.txt" })).toEqual({
      code: "ERR_FS_PERMISSION",
      message: "cannot open ~/secret.txt: permission denied",
    });
    expect(await fsError({ op: "mkdir", path: "~/locked/new", parents: false })).toMatchObject({
      code: "ERR_FS_PERMISSION",
    });
    expect(
      await fsError({
        op: "write",
        path: "~/locked/new.txt",
        content: "x",
        encoding: "utf8",
        exclusive: true,
      }),
    ).toMatchObject({ code: "ERR_FS_PERMISSION" });
    expect(await fsError({ ...list, path: "~" })).toBe("ok");
    expect(await readdir(join(home, "locked"))).toEqual([]);
  });

  it("an upload into a folder that is not writable is refused and leaves nothing", async () => {
    const { headers: auth } = await signIn(plus.port, plus.token);
    const q = new URLSearchParams({ dir: "~/locked", name: "up.bin" });
    const res = await fetch(`${plus.url}api/files/upload?${q}`, {
      method: "PUT",
      body: Buffer.alloc(4096, 1),
      headers: {
        ...auth,
        "content-type": "application/octet-stream",
      },
    });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("ERR_FS_PERMISSION");
    expect(body.message).toMatch(/~\/locked\/up\.bin.*permission denied/);
    expect(await readdir(join(home, "locked"))).toEqual([]);
  });
});
