/**
 * The app proxy (`/port/<n>/`): requests per second and p99 of small and 1 MiB answers and of
 * a WebSocket round trip, to one upstream app (test/fixtures/proxy-upstream.mjs, a process of
 * its own), three ways: directly, through a real plus's gateway (with a link token as Bearer,
 * checked on every request), and through Debian's nginx `proxy_pass` (one worker, HTTP/1.1
 * with upstream keep-alive and the usual Upgrade headers, default buffering) as the anchor.
 * The load comes from this process with a fixed number of keep-alive connections; three rounds
 * alternate the three ways (one with BENCH_QUICK=1) and each way's median round counts.
 * Last line: `proxy: ratio=<ours/nginx, geometric mean of the three throughputs> …`.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { freePort } from "../../services/runtime/ports.js";
import { startBenchPlus } from "./files-plus.js";
import { type Spawned, spawnServer, stopServer } from "./proc.js";
import { num, percentile, sleep } from "./stats.js";

const NGINX = "/usr/sbin/nginx";
const UPSTREAM = fileURLToPath(
  new URL("../../../test/fixtures/proxy-upstream.mjs", import.meta.url),
);
const QUICK = process.env.BENCH_QUICK === "1";
const SECONDS = QUICK ? 1 : 2;
const ROUNDS = QUICK ? 1 : 3;
const WARMUP_MS = 500;

interface Target {
  name: string;
  port: number;
  prefix: string;
  headers: Record<string, string>;
}

interface Result {
  perSecond: number;
  p99Ms: number;
}

/** `concurrency` loops of GETs on keep-alive connections for SECONDS, after a warm-up. */
async function httpLoad(t: Target, path: string, concurrency: number): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let counting = false;
  let stop = false;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const t0 = performance.now();
      const req = request(
        { host: "127.0.0.1", port: t.port, path: `${t.prefix}${path}`, headers: t.headers, agent },
        (res) => {
          if (res.statusCode !== 200) reject(new Error(`${t.name} ${path}: ${res.statusCode}`));
          res.on("data", () => undefined);
          res.on("end", () => {
            if (counting) latencies.push(performance.now() - t0);
            resolve();
          });
        },
      );
      req.on("error", reject);
      req.end();
    });
  const loop = async () => {
    while (!stop) await one();
  };
  const loops = Array.from({ length: concurrency }, loop);
  await sleep(WARMUP_MS);
  counting = true;
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  return { perSecond: latencies.length / elapsed, p99Ms: percentile(latencies, 99) };
}

/** `concurrency` WebSockets, each sending 32 bytes and waiting for the echo, for SECONDS. */
async function wsLoad(t: Target, concurrency: number): Promise<Result> {
  const latencies: number[] = [];
  let counting = false;
  let stop = false;
  const payload = Buffer.alloc(32, 97);
  const loop = async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}${t.prefix}/ws`, {
      headers: { ...t.headers, origin: `http://127.0.0.1:${t.port}` },
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    while (!stop) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        ws.once("message", () => resolve());
        ws.send(payload);
      });
      if (counting) latencies.push(performance.now() - t0);
    }
    ws.close();
  };
  const loops = Array.from({ length: concurrency }, loop);
  await sleep(WARMUP_MS);
  counting = true;
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(loops);
  return { perSecond: latencies.length / elapsed, p99Ms: percentile(latencies, 99) };
}

function nginxConfig(dir: string, listen: number, upstream: number): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream app { server 127.0.0.1:${upstream}; keepalive 64; }
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  server {
    listen 127.0.0.1:${listen};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;
    }
  }
}
`;
}

async function waitFor(what: string, server: Spawned, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await ok().catch(() => false))) {
    if (server.child.exitCode !== null) throw new Error(`${what} exited:\n${server.output()}`);
    if (Date.now() > deadline) throw new Error(`${what} did not start:\n${server.output()}`);
    await sleep(20);
  }
}

const answers = async (url: string) => (await fetch(url)).status === 200;

export async function proxyBench(): Promise<string> {
  if (!existsSync(NGINX)) {
    return `proxy: ratio=NaN skipped="no ${NGINX} (apt-get install nginx)"`;
  }
  const dir = await mkdtemp(join(tmpdir(), "bench-proxy-"));
  const servers: Spawned[] = [];
  try {
    const upPort = await freePort();
    const up = spawnServer(process.execPath, [UPSTREAM, String(upPort)], process.env);
    servers.push(up);
    await waitFor("upstream", up, () => answers(`http://127.0.0.1:${upPort}/small`));

    const ngxPort = await freePort();
    const ngxDir = join(dir, "nginx");
    await mkdir(ngxDir);
    await writeFile(join(ngxDir, "nginx.conf"), nginxConfig(ngxDir, ngxPort, upPort));
    const ngx = spawnServer(
      NGINX,
      ["-p", ngxDir, "-c", join(ngxDir, "nginx.conf"), "-e", join(ngxDir, "error.log")],
      process.env,
    );
    servers.push(ngx);
    await waitFor("nginx", ngx, () => answers(`http://127.0.0.1:${ngxPort}/small`));

    const home = join(dir, "home");
    await mkdir(home);
    const plus = await startBenchPlus(dir, home);
    servers.push(plus.server);
    const auth = await plus.auth();
    const minted = await fetch(`${plus.url}api/proxy/token`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ port: upPort, ttl: 3600 }),
    });
    const { token } = (await minted.json()) as { token: string };

    const targets: Target[] = [
      { name: "direct", port: upPort, prefix: "", headers: {} },
      {
        name: "ours",
        port: plus.port,
        prefix: `/port/${upPort}`,
        headers: { authorization: `Bearer ${token}` },
      },
      { name: "nginx", port: ngxPort, prefix: `/port/${upPort}`, headers: {} },
    ];
    // Rounds alternate the three ways, so a load that comes and goes on this shared machine
    // falls on all of them; each way's median round counts.
    const cases: Record<string, (t: Target) => Promise<Result>> = {
      small: (t) => httpLoad(t, "/small", 16),
      big: (t) => httpLoad(t, "/big", 4),
      ws: (t) => wsLoad(t, 16),
    };
    const results: Record<string, Record<string, Result>> = Object.fromEntries(
      targets.map((t) => [t.name, {}]),
    );
    for (const [k, run] of Object.entries(cases)) {
      const rounds: Record<string, Result[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
      for (let i = 0; i < ROUNDS; i++) {
        for (const t of targets) rounds[t.name]!.push(await run(t));
      }
      for (const t of targets) {
        const sorted = rounds[t.name]!.sort((a, b) => a.perSecond - b.perSecond);
        results[t.name]![k] = sorted[Math.floor(sorted.length / 2)]!;
      }
      console.log(
        `  ${k.padEnd(5)} ${targets.map((t) => `${t.name} ${rounds[t.name]!.map((r) => num(r.perSecond)).join("/")}/s`).join(" · ")}`,
      );
    }
    for (const t of targets) {
      const r = results[t.name]!;
      console.log(
        `  ${t.name.padEnd(6)} small ${num(r.small!.perSecond).padStart(6)}/s p99 ${num(r.small!.p99Ms, 2)} ms · 1 MiB ${num(r.big!.perSecond).padStart(5)}/s p99 ${num(r.big!.p99Ms, 2)} ms · ws ${num(r.ws!.perSecond).padStart(6)}/s p99 ${num(r.ws!.p99Ms, 2)} ms`,
      );
    }
    const ours = results.ours!;
    const nginx = results.nginx!;
    const direct = results.direct!;
    const ratio = (k: string) => ours[k]!.perSecond / nginx[k]!.perSecond;
    const geo = Math.cbrt(ratio("small") * ratio("big") * ratio("ws"));
    const keys = ["small", "big", "ws"] as const;
    const fields = keys.flatMap((k) => [
      `${k}_ours=${num(ours[k]!.perSecond)}`,
      `${k}_nginx=${num(nginx[k]!.perSecond)}`,
      `${k}_direct=${num(direct[k]!.perSecond)}`,
      `${k}_ratio=${num(ratio(k), 2)}`,
      `${k}_p99_ours_ms=${num(ours[k]!.p99Ms, 2)}`,
      `${k}_p99_nginx_ms=${num(nginx[k]!.p99Ms, 2)}`,
    ]);
    return `proxy: ratio=${num(geo, 2)} target=0.8 ${fields.join(" ")}`;
  } finally {
    for (const s of servers.reverse()) await stopServer(s);
    await rm(dir, { recursive: true, force: true });
  }
}
