/**
 * A workspace's apps through the hub (`/ws/<wsid>/port/<n>/`), through a real hub and the host
 * it runs joined to itself (real btrfs, podman): busybox httpd and a node WebSocket echo inside
 * the container, reached over NATS byte pipes; links, the cookie exchange, the other-site
 * attack, a viewer, a non-member, foreign tokens and a stopped workspace refused.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { hubSharePaths } from "../../services/gateway/hub-workspaces.js";
import { HubWorkspaceBuckets, type HubWorkspaceView } from "../../shared/hub-workspaces.js";
import { containerName, type WorkspaceView } from "../../shared/launchpad.js";
import { Buckets } from "../../shared/subjects.js";
import {
  askWorkspaces,
  copyProgram,
  createHubAccount,
  type HostMachine,
  hubHostUnsupported,
  runningHubWorkspace,
  setupHostMachine,
  startTestHub,
  TEST_PASSWORD,
  viewEntry,
} from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";

const HOST = "lproxy1";
const unsupported = await hubHostUnsupported();
if (unsupported) console.warn(`hub app proxy skipped: ${unsupported}`);

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(base: string, path: string, headers: Record<string, string> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

const ECHO = `import { WebSocketServer } from "ws";
const wss = new WebSocketServer({ host: "127.0.0.1", port: 18081 });
wss.on("connection", (s, req) => s.on("message", (m) => s.send("echo:" + req.url + ":" + m)));
`;

describe.skipIf(unsupported !== undefined)(
  "hub app proxy - a workspace's port through the hub",
  () => {
    let m: HostMachine;
    let hub: RunningHub;
    let wsid: string;
    let base: string;
    const big = randomBytes(1 << 20);
    const ids: Record<string, string> = {};
    const creds: Record<string, string> = {};
    const servers: ChildProcess[] = [];
    const ws = (type: string, data: object) => askWorkspaces(hub.nc, type, data);
    const signIn = async (who: string) => {
      const res = await fetch(`${base}/api/hub/sign-in`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: base },
        body: JSON.stringify({ email: `${who}@example.com`, password: TEST_PASSWORD }),
      });
      const body = (await res.json()) as { credential?: string };
      expect(res.status).toBe(200);
      return body.credential!;
    };
    const link = async (who: string, port: number, o: { wsid?: string; ttl?: number } = {}) => {
      const res = await fetch(`${base}/api/hub/proxy/token`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          origin: base,
          authorization: `Bearer ${creds[who]}`,
        },
        body: JSON.stringify({ wsid: o.wsid ?? wsid, port, ...(o.ttl && { ttl: o.ttl }) }),
      });
      return {
        status: res.status,
        body: (await res.json()) as { token: string; url: string; code?: string },
      };
    };
    /** The Host of an app's own origin (a browser resolves *.localhost to loopback itself). */
    const at = (port: number, w = wsid) => ({
      host: `p${port}-${w}.localhost:${new URL(base).port}`,
    });

    beforeAll(async () => {
      m = await setupHostMachine(HOST, 2048);
      hub = await startTestHub(join(m.dir, "hub"), {
        localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST },
      });
      base = hub.url.replace(/\/$/, "");
      for (const [who, role] of [
        ["alice", "admin"],
        ["bob", "user"],
        ["carol", "user"],
        ["dave", "user"],
      ] as const)
        ids[who] = await createHubAccount(hub.nc, `${who}@example.com`, role);
      const rootfs = await m.rootfs("p");
      await mkdir(join(rootfs, "srv", "www"), { recursive: true });
      await writeFile(join(rootfs, "srv", "www", "index.html"), "hello from the workspace\n");
      await writeFile(join(rootfs, "srv", "www", "big"), big);
      await copyProgram(rootfs, process.execPath, "/usr/local/bin/node");
      const modules = new URL("../../node_modules", import.meta.url).pathname;
      await mkdir(join(rootfs, "opt", "echo", "node_modules"), { recursive: true });
      await new Promise((r) =>
        spawn("cp", ["-rL", join(modules, "ws"), join(rootfs, "opt", "echo", "node_modules")]).on(
          "close",
          r,
        ),
      );
      await writeFile(join(rootfs, "opt", "echo", "echo.mjs"), ECHO);
      wsid = await runningHubWorkspace(hub.nc, {
        hostId: HOST,
        owner: ids.alice!,
        rootfs,
        image: "pximg",
        title: "Apps",
        quota: { diskMb: 600, memoryMb: 256 },
        members: [
          ["bob@example.com", "collaborator"],
          ["carol@example.com", "viewer"],
        ],
      });
      for (const who of ["alice", "bob", "carol", "dave"]) creds[who] = await signIn(who);
      const inside = (cmd: string) => {
        const p = spawn("podman", ["exec", containerName(HOST, wsid), "sh", "-c", cmd], {
          stdio: "ignore",
        });
        servers.push(p);
      };
      // On its own origin an app needs no base path.
      inside("exec httpd -f -p 127.0.0.1:18080 -h /srv/www");
      inside("cd /opt/echo && exec /usr/local/bin/node echo.mjs");
    }, 400_000);

    afterAll(async () => {
      for (const p of servers) p.kill();
      await hub?.stop();
      await m?.cleanup();
    }, 120_000);

    it("hub app proxy - an owner's link reaches httpd in the container, 1 MiB intact", async () => {
      const { body } = await link("alice", 18080);
      const token = body.token;
      expect(body.url).toBe(
        `http://p18080-${wsid}.localhost:${new URL(base).port}/?token=${encodeURIComponent(token)}`,
      );
      const auth = { authorization: `Bearer ${token}`, ...at(18080) };
      const small = await until("httpd answers", async () => {
        const r = await get(base, "/", auth);
        return r.status === 200 ? r : undefined;
      });
      expect(small.body.toString()).toBe("hello from the workspace\n");
      const r = await get(base, "/big", auth);
      expect(r.status).toBe(200);
      expect(r.body.equals(big)).toBe(true);
    });

    it("hub app proxy - ?token= is exchanged for a cookie of the app's own origin, from its own pages only", async () => {
      const { body } = await link("alice", 18080);
      const ex = await get(base, new URL(body.url).pathname + new URL(body.url).search, {
        ...at(18080),
        "sec-fetch-site": "none",
      });
      expect(ex.status).toBe(303);
      expect(ex.headers.location).toBe("/");
      const setCookie = String(ex.headers["set-cookie"]);
      expect(setCookie).toMatch(/HttpOnly; SameSite=Strict/);
      expect(setCookie).toContain("Path=/;");
      // Host-only: no other app's origin, nor the hub's, is sent it by the browser.
      expect(setCookie).not.toMatch(/Domain=/i);
      const cookie = setCookie.split(";")[0]!;
      const ok = await get(base, "/", { ...at(18080), cookie, "sec-fetch-site": "same-origin" });
      expect(ok.status).toBe(200);
      // Another app's page (or the hub's, or another port's) is the same site at most.
      const attack = await get(base, "/", { ...at(18080), cookie, "sec-fetch-site": "same-site" });
      expect(attack.status).toBe(403);
      expect(JSON.parse(attack.body.toString()).code).toBe("ERR_PROXY_SITE");
      // Nor does a cookie open another port.
      const other = await get(base, "/", { ...at(18081), cookie, "sec-fetch-site": "same-origin" });
      expect(other.status).toBe(401);
      // No hub route answers on an app's origin: its pages reach the app, nothing of the hub.
      const hubApi = await get(base, "/api/hub/nats", {
        ...at(18080),
        authorization: `Bearer ${creds.alice}`,
      });
      expect(JSON.parse(hubApi.body.toString()).code).toBe("ERR_PROXY_AUTH");
      // The hub's own origin never serves an app: its old path is sent to the app's origin.
      const old = await get(base, `/ws/${wsid}/port/18080/big?x=1`);
      expect(old.status).toBe(308);
      expect(old.headers.location).toBe(
        `http://p18080-${wsid}.localhost:${new URL(base).port}/big?x=1`,
      );
      const hostile = await get(base, "/", { host: `p18080-${wsid}.localhost.evil.example` });
      expect(hostile.status).not.toBe(200);
    });

    it("hub app proxy - viewers, non-members and foreign tokens are refused", async () => {
      expect((await link("carol", 18080)).status).toBe(403);
      expect((await link("dave", 18080)).status).toBe(404);
      const code = async (path: string, headers: Record<string, string>) => {
        const r = await get(base, path, headers);
        return r.status === 200 ? "passed" : (JSON.parse(r.body.toString()).code as string);
      };
      const alice = (await link("alice", 18080)).body.token;
      // For another port, another workspace, forged, expired.
      const as = (token: string, port = 18080, w = wsid) => ({
        authorization: `Bearer ${token}`,
        ...at(port, w),
      });
      expect(await code("/", as(alice, 18081))).toBe("ERR_PROXY_TOKEN");
      expect(await code("/", as(alice, 18080, `x${wsid.slice(1)}`))).toBe("ERR_PROXY_TOKEN");
      const forged = `${alice.slice(0, -4)}AAAA`;
      expect(await code("/", as(forged))).toBe("ERR_PROXY_TOKEN");
      const short = (await link("alice", 18080, { ttl: 10 })).body.token;
      await until("the short link expired", async () =>
        (await code("/", as(short))) === "ERR_PROXY_TOKEN" ? true : undefined,
      );
      // A collaborator's link stops working once they are made a viewer.
      const bob = (await link("bob", 18080)).body.token;
      expect((await get(base, "/", as(bob))).status).toBe(200);
      expect(
        (
          await ws("ChangeHubMemberRole", {
            by: ids.alice!,
            wsid,
            account: ids.bob!,
            role: "viewer",
          })
        ).ok,
      ).toBe(true);
      await until("bob refused", async () =>
        (await code("/", as(bob))) === "ERR_HUB_FORBIDDEN" ? true : undefined,
      );
    }, 60_000);

    it("hub app proxy - a WebSocket echo round trip through the hub", async () => {
      const { token } = (await link("alice", 18081)).body;
      const socket = (t: string, rest: string) =>
        new WebSocket(`${base.replace("http", "ws")}/${rest}?token=${encodeURIComponent(t)}`, {
          headers: at(18081),
        });
      const answer = await until("the echo answers", async () => {
        const sock = socket(token, "x");
        return await new Promise<string | undefined>((resolve) => {
          sock.on("open", () => sock.send("ping"));
          sock.on("message", (d) => {
            resolve(String(d));
            sock.close();
          });
          sock.on("error", () => resolve(undefined));
        });
      });
      // The token is taken out before the app sees the request.
      expect(answer).toBe("echo:/x:ping");
      // A collaborator's open WebSocket closes once they are made a viewer.
      const role = (r: string) =>
        ws("ChangeHubMemberRole", { by: ids.alice!, wsid, account: ids.bob!, role: r });
      expect((await role("collaborator")).ok).toBe(true);
      const bob = await until("bob may make links again", async () => {
        const r = await link("bob", 18081);
        return r.status === 200 ? r.body.token : undefined;
      });
      const sock = socket(bob, "");
      const closed = new Promise<void>((r) => sock.on("close", () => r()));
      sock.on("error", () => undefined);
      const first = await new Promise<string>((resolve) => {
        sock.on("open", () => sock.send("hi"));
        sock.once("message", (d) => resolve(String(d)));
      });
      expect(first).toBe("echo:/:hi");
      expect((await role("viewer")).ok).toBe(true);
      await closed;
    }, 60_000);

    it("hub app proxy - an owner shares a port publicly: anyone opens it by the link, until it is revoked", async () => {
      const ports = hubSharePaths(wsid).ports;
      const api = (who: string, method: string, path: string, body?: object) =>
        fetch(`${base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${creds[who]}`,
            origin: base,
            ...(body && { "content-type": "application/json" }),
          },
          ...(body && { body: JSON.stringify(body) }),
        });
      const code = async (path: string, headers: Record<string, string>) => {
        const r = await get(base, path, headers);
        return r.status === 200 ? "passed" : (JSON.parse(r.body.toString()).code as string);
      };
      // Only an owner shares; a non-member does not know the workspace.
      expect((await api("bob", "POST", ports, { port: 18080 })).status).toBe(403);
      expect((await api("carol", "POST", ports, { port: 18080 })).status).toBe(403);
      expect((await api("dave", "POST", ports, { port: 18080 })).status).toBe(404);
      expect((await api("alice", "POST", ports, { port: 0 })).status).toBe(400);
      const made = await api("alice", "POST", ports, { port: 18080 });
      expect(made.status).toBe(200);
      const link = new URL(((await made.json()) as { url: string }).url);
      expect(link.host).toBe(at(18080).host);
      expect(link.searchParams.get("share")?.length).toBeGreaterThanOrEqual(32);
      await until("the view lists the port", async () =>
        (
          await viewEntry<HubWorkspaceView>(hub.nc, HubWorkspaceBuckets.workspaces, wsid)
        )?.publicPorts?.includes(18080)
          ? true
          : undefined,
      );
      // Nothing of the secret is in the workspace's history.
      const history = await hub.nc.request(
        `$JS.API.STREAM.MSG.GET.HUB`,
        JSON.stringify({ last_by_subj: `hubws.${wsid}` }),
      );
      const last = Buffer.from(
        history.json<{ message: { data: string } }>().message.data,
        "base64",
      ).toString();
      expect(last).toContain("HubPortShared");
      expect(last).not.toContain(link.searchParams.get("share")!);

      // Anyone, signed in nowhere: the link is exchanged for a cookie of the app's origin.
      const ex = await get(base, `${link.pathname}${link.search}`, {
        ...at(18080),
        "sec-fetch-site": "none",
      });
      expect(ex.status).toBe(303);
      expect(ex.headers.location).toBe("/");
      const setCookie = String(ex.headers["set-cookie"]);
      expect(setCookie).toMatch(/HttpOnly; SameSite=Lax/);
      const cookie = setCookie.split(";")[0]!;
      const page = await get(base, "/", { ...at(18080), cookie });
      expect(page.status).toBe(200);
      expect(page.body.toString()).toBe("hello from the workspace\n");
      // The link opens that port only, and a wrong secret nothing.
      expect(await code("/", { ...at(18081), cookie })).toBe("ERR_PROXY_AUTH");
      expect(await code(`/${link.search}`, at(18081))).toBe("ERR_PROXY_TOKEN");
      expect(await code("/?share=not-the-secret", at(18080))).toBe("ERR_PROXY_TOKEN");
      // A collaborator cannot revoke it; the owner can, and it stops within seconds.
      expect((await api("bob", "DELETE", hubSharePaths(wsid).port(18080))).status).toBe(403);
      expect((await api("alice", "DELETE", hubSharePaths(wsid).port(18080))).status).toBe(200);
      await until("the revoked link refused", async () =>
        (await code("/", { ...at(18080), cookie })) === "ERR_PROXY_TOKEN" ? true : undefined,
      );
      expect(await code(`/${link.search}`, at(18080))).toBe("ERR_PROXY_TOKEN");
      expect(
        (await viewEntry<HubWorkspaceView>(hub.nc, HubWorkspaceBuckets.workspaces, wsid))
          ?.publicPorts,
      ).toEqual([]);
    }, 60_000);

    it("hub app proxy - a stopped workspace says so", async () => {
      const { token } = (await link("alice", 18080)).body;
      expect((await ws("StopHubWorkspace", { by: ids.alice!, wsid })).ok).toBe(true);
      await until("stopped", async () =>
        (await viewEntry<WorkspaceView>(hub.nc, Buckets.workspaces, wsid))?.status === "stopped"
          ? true
          : undefined,
      );
      const r = await get(base, "/", {
        authorization: `Bearer ${token}`,
        ...at(18080),
        accept: "text/html",
      });
      expect(r.status).toBe(409);
      expect(r.body.toString()).toMatch(/stopped/);
    }, 120_000);
  },
);
