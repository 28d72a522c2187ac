/**
 * Uploads and downloads of a hosted workspace through the hub's gateway, with a real hub and
 * the host it runs joined to itself (real btrfs, podman): HTTP to the hub, NATS over the
 * host's leaf connection to the workspace's fs service, which writes as the workspace's user.
 * Files and folders land in the container owned by that user; the conflict choices are
 * plus's; an aborted upload leaves nothing; a symlink out of the workspace is not followed;
 * a viewer may only download, another account not even that; downloads with Range and of
 * folders (tar); chunks sent straight over NATS are on disk once answered, and one too large
 * or out of order changes nothing or ends the upload without a trace.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { askHub } from "../../services/gateway/hub-auth.js";
import { hubFilesPaths } from "../../services/gateway/hub-files.js";
import { UID_BASE, workspacePaths } from "../../services/host/index.js";
import { TransferClient } from "../../services/runtime/transfer-client.js";
import { TRANSFER_CHUNK_BYTES } from "../../shared/file-transfer.js";
import { UPLOAD_TEMP_PREFIX } from "../../shared/files.js";
import { CONSOLE_ACTOR, type HubReply, HubSubjects } from "../../shared/hub.js";
import { HubWorkspaceBuckets } from "../../shared/hub-workspaces.js";
import { containerName, WORKSPACE_UID } from "../../shared/launchpad.js";
import {
  type HostMachine,
  hubHostUnsupported,
  runningHubWorkspace,
  setupHostMachine,
  startTestHub,
} from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";

const execFileP = promisify(execFile);
const HOST = "hubfiles1";
const unsupported = await hubHostUnsupported();
if (unsupported) console.warn(`hub files skipped: ${unsupported}`);

const USER = UID_BASE + WORKSPACE_UID;

describe.skipIf(unsupported !== undefined)("hub files - through the hub to a host", () => {
  let m: HostMachine;
  let hub: RunningHub;
  /** The hub's origin (its URL without the trailing slash). */
  let base: string;
  let wsid: string;
  let home: string;
  const creds: Record<string, string> = {};

  const account = async (email: string, role: "admin" | "user") =>
    (
      await askHub<HubReply>(
        hub.nc,
        HubSubjects.command,
        "CreateAccount",
        { by: CONSOLE_ACTOR, email, password: "a long enough password", role },
        "accounts service",
      )
    ).account!.id;
  const signIn = async (email: string) => {
    const res = await fetch(`${base}/api/hub/sign-in`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base },
      body: JSON.stringify({ email, password: "a long enough password" }),
    });
    const body = (await res.json()) as { credential?: string; message?: string };
    expect(res.status, body.message).toBe(200);
    return body.credential!;
  };
  const upload = (
    who: string,
    dir: string,
    name: string,
    body: string | Uint8Array<ArrayBuffer>,
    conflict = "fail",
  ) =>
    fetch(`${base}${hubFilesPaths(wsid).upload}?${new URLSearchParams({ dir, name, conflict })}`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${creds[who]}`,
        origin: base,
        "content-type": "application/octet-stream",
      },
      body,
    });
  const download = (who: string, path: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${hubFilesPaths(wsid).download}?${new URLSearchParams({ path })}`, {
      headers: { authorization: `Bearer ${creds[who]}`, ...headers },
    });
  const inContainer = async (...argv: string[]) =>
    (await execFileP("podman", ["exec", containerName(HOST, wsid), ...argv])).stdout.trim();

  beforeAll(async () => {
    m = await setupHostMachine(HOST, 2048);
    hub = await startTestHub(join(m.dir, "hub"), {
      localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST },
    });
    base = new URL(hub.url).origin;
    const alice = await account("alice@example.com", "admin");
    const bob = await account("bob@example.com", "user");
    await account("carol@example.com", "user");
    wsid = await runningHubWorkspace(hub.nc, {
      hostId: HOST,
      owner: alice,
      rootfs: await m.rootfs("f"),
      image: "bb",
      title: "Files",
      quota: { diskMb: 400, memoryMb: 256 },
    });
    // Bob views the workspace (there is no invitation yet: his membership is written as the
    // hub's projection would write it).
    await (await new Kvm(hub.nc).open(HubWorkspaceBuckets.memberships)).put(
      `${bob}.${wsid}`,
      JSON.stringify({ wsid, account: bob, role: "viewer" }),
    );
    home = workspacePaths(m.root, wsid).home;
    for (const who of ["alice", "bob", "carol"]) creds[who] = await signIn(`${who}@example.com`);
  }, 400_000);

  afterAll(async () => {
    await hub?.stop();
    await m?.cleanup();
  });

  it("hub files - a file and a folder land in the container, owned by the workspace user", async () => {
    const big = new Uint8Array(new ArrayBuffer(3 * 1024 * 1024 + 17)).map((_, i) => (i * 7) % 251);
    const res = await upload("alice", "~", "big.bin", big);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      path: "/home/user/big.bin",
      name: "big.bin",
      size: big.length,
      replaced: false,
    });
    const st = await stat(join(home, "big.bin"));
    expect(st.uid).toBe(USER);
    // Buffer.equals: a deep comparison of megabytes would hold up the hub in this process.
    expect((await readFile(join(home, "big.bin"))).equals(big)).toBe(true);
    expect(await inContainer("stat", "-c", "%U %s", "/home/user/big.bin")).toBe(
      `user ${big.length}`,
    );

    const folder = await upload("alice", "/home/user", "top/sub/b.txt", "in a folder");
    expect(folder.status).toBe(201);
    expect(await inContainer("cat", "/home/user/top/sub/b.txt")).toBe("in a folder");
    expect(await inContainer("stat", "-c", "%U", "/home/user/top/sub")).toBe("user");
    expect((await readdir(home)).filter((n) => n.startsWith(UPLOAD_TEMP_PREFIX))).toEqual([]);
  });

  it("hub files - conflicts: fail, replace, rename, as on plus", async () => {
    expect((await upload("alice", "~", "a.txt", "one")).status).toBe(201);
    const clash = await upload("alice", "~", "a.txt", "two");
    expect(clash.status).toBe(409);
    expect(await clash.json()).toMatchObject({ code: "ERR_FS_EXISTS" });
    expect(await readFile(join(home, "a.txt"), "utf8")).toBe("one");

    const replaced = await upload("alice", "~", "a.txt", "three", "replace");
    expect(await replaced.json()).toMatchObject({ name: "a.txt", replaced: true });
    expect(await readFile(join(home, "a.txt"), "utf8")).toBe("three");

    const renamed = await upload("alice", "~", "a.txt", "four", "rename");
    expect(await renamed.json()).toMatchObject({ name: "a (1).txt", path: "/home/user/a (1).txt" });
    expect(await readFile(join(home, "a (1).txt"), "utf8")).toBe("four");
    expect(await readFile(join(home, "a.txt"), "utf8")).toBe("three");
  });

  it("hub files - an upload the browser abandons leaves nothing behind", async () => {
    const url = new URL(
      `${base}${hubFilesPaths(wsid).upload}?${new URLSearchParams({ dir: "~", name: "cut.bin" })}`,
    );
    const piece = Buffer.alloc(1024 * 1024, 1);
    const req = httpRequest(url, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${creds.alice}`,
        origin: base,
        "content-type": "application/octet-stream",
        "content-length": String(20 * piece.length),
      },
    });
    req.on("error", () => undefined);
    for (let i = 0; i < 3; i++) req.write(piece);
    // The temp file is there while bytes arrive…
    await until("the upload's temp file", async () =>
      (await readdir(home)).some((n) => n.startsWith(UPLOAD_TEMP_PREFIX)) ? true : undefined,
    );
    req.destroy();
    // …and gone once the browser has gone.
    await until("the temp file removed", async () =>
      (await readdir(home)).some((n) => n.startsWith(UPLOAD_TEMP_PREFIX)) ? undefined : true,
    );
    expect(existsSync(join(home, "cut.bin"))).toBe(false);
  });

  it("hub files - chunks straight over NATS: an answered one is on disk, a bad one ends the upload and leaves nothing", async () => {
    const client = new TransferClient(hub.nc, wsid);
    const temps = async () => (await readdir(home)).filter((n) => n.startsWith(UPLOAD_TEMP_PREFIX));
    const { result } = await client.ask({
      op: "upload",
      dir: "~",
      name: "raw.bin",
      conflict: "fail",
    });
    const first = Buffer.alloc(1000, 5);
    expect((await client.ask({ op: "chunk", id: result.id, offset: 0 }, first)).result).toEqual({
      received: 1000,
    });
    // Acknowledged means written: the temp file holds the chunk now.
    const [temp] = await temps();
    expect(await readFile(join(home, temp!))).toEqual(first);
    // Larger than a chunk may be: refused before anything is written; the upload goes on.
    await expect(
      client.ask(
        { op: "chunk", id: result.id, offset: 1000 },
        new Uint8Array(TRANSFER_CHUNK_BYTES + 1),
      ),
    ).rejects.toMatchObject({ code: "ERR_FS_REQUEST" });
    expect((await stat(join(home, temp!))).size).toBe(1000);
    // A gap (a chunk lost on the way): the upload is cancelled and its temp file removed.
    await expect(
      client.ask({ op: "chunk", id: result.id, offset: 5000 }, first),
    ).rejects.toMatchObject({ code: "ERR_FS_TRANSFER" });
    expect(await temps()).toEqual([]);
    await expect(client.ask({ op: "finish", id: result.id, size: 1000 })).rejects.toMatchObject({
      code: "ERR_FS_TRANSFER",
    });
    expect(existsSync(join(home, "raw.bin"))).toBe(false);
  });

  it("hub files - a symlink out of the workspace is not followed", async () => {
    const outside = join(m.dir, "outside");
    await mkdir(outside);
    await writeFile(join(outside, "secret"), "host secret");
    await symlink(outside, join(home, "escape"));
    const up = await upload("alice", "~/escape", "planted", "x");
    expect(up.status).toBe(403);
    expect(await up.json()).toMatchObject({ code: "ERR_FS_OUTSIDE_SANDBOX" });
    expect(await readdir(outside)).toEqual(["secret"]);
    const up2 = await upload("alice", "~", "escape/planted", "x");
    expect(up2.status).toBeGreaterThanOrEqual(400);
    expect(await up2.json()).toMatchObject({ code: expect.stringMatching(/^ERR_FS_/) });
    expect(await readdir(outside)).toEqual(["secret"]);
    const down = await download("alice", "~/escape/secret");
    expect(down.status).toBe(403);
    expect(await down.text()).not.toContain("host secret");
    // The error names no host path.
    expect(
      JSON.stringify(await (await upload("alice", "~/escape", "p", "x")).json()),
    ).not.toContain(m.root);
    expect((await lstat(join(home, "escape"))).isSymbolicLink()).toBe(true);
  });

  it("hub files - a viewer may download, not upload; another account neither", async () => {
    const viewer = await upload("bob", "~", "by-bob.txt", "no");
    expect(viewer.status).toBe(403);
    expect(await viewer.json()).toMatchObject({ code: "ERR_HUB_FORBIDDEN" });
    expect(existsSync(join(home, "by-bob.txt"))).toBe(false);
    const read = await download("bob", "~/a.txt");
    expect(read.status).toBe(200);
    expect(await read.text()).toBe("three");

    const stranger = await upload("carol", "~", "by-carol.txt", "no");
    expect(stranger.status).toBe(404);
    expect(await stranger.json()).toMatchObject({ code: "ERR_WORKSPACE_NOT_FOUND" });
    expect((await download("carol", "~/a.txt")).status).toBe(404);
    expect(existsSync(join(home, "by-carol.txt"))).toBe(false);
    expect((await fetch(`${base}${hubFilesPaths(wsid).download}?path=a.txt`)).status).toBe(401);
  });

  it("hub files - downloads: a file whole and by Range, a folder as tar, a signed link once", async () => {
    const whole = await download("alice", "~/big.bin");
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-disposition")).toContain('filename="big.bin"');
    const bytes = Buffer.from(await whole.arrayBuffer());
    expect(bytes.equals(await readFile(join(home, "big.bin")))).toBe(true);

    const part = await download("alice", "~/big.bin", { range: "bytes=1048570-1048580" });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 1048570-1048580/${bytes.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(bytes.subarray(1048570, 1048581));
    const beyond = await download("alice", "~/big.bin", { range: `bytes=${bytes.length + 5}-` });
    expect(beyond.status).toBe(416);

    const tar = await download("alice", "~/top");
    expect(tar.status).toBe(200);
    expect(tar.headers.get("content-type")).toBe("application/x-tar");
    const { extract } = await import("tar-stream");
    const entries = new Map<string, string>();
    const x = extract();
    x.on("entry", (header, stream, next) => {
      let text = "";
      stream.on("data", (d: unknown) => (text += String(d)));
      stream.on("end", () => {
        entries.set(header.name, text);
        next();
      });
    });
    const done = new Promise<void>((resolve, reject) =>
      x.on("finish", () => resolve()).on("error", reject),
    );
    x.end(Buffer.from(await tar.arrayBuffer()));
    await done;
    expect(entries.get("top/sub/b.txt")).toBe("in a folder");

    const path = `${hubFilesPaths(wsid).download}?${new URLSearchParams({ path: "~/a.txt" })}`;
    const made = await fetch(`${base}/api/auth/link`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${creds.bob}`,
        origin: base,
        "content-type": "application/json",
      },
      body: JSON.stringify({ url: path }),
    });
    expect(made.status).toBe(200);
    const link = ((await made.json()) as { url: string }).url;
    const opened = await fetch(`${base}${link}`);
    expect(opened.status).toBe(200);
    expect(await opened.text()).toBe("three");
    expect((await fetch(`${base}${link}`)).status).toBe(401);
  });
});
