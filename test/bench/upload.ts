/**
 * `upload`: 1 GB streamed over loopback through the gateway's upload route (signed-in browser,
 * Origin check, path resolver, temp file, rename, FileUploaded event) next to a bare Node
 * http server in its own process that pipes the request body to a file (the anchor). The
 * client is the same for both: one PUT whose body is a 1 MiB buffer sent 1024 times.
 * Also the growth of plus's resident memory (node + nats-server) during the upload.
 */

import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { freePort } from "../../services/runtime/ports.js";
import { startBenchPlus } from "./files-plus.js";
import { spawnServer, stopServer, treeRssMb, waitForHttp200 } from "./proc.js";
import { median, num, yesNo } from "./stats.js";

const MiB = 1024 * 1024;
const RATIO_TARGET = 0.8;
const RSS_TARGET_MB = 64;

/** The anchor: what a minimal upload endpoint does, and nothing else. */
const ANCHOR_SERVER = `
const http = require("node:http");
const fs = require("node:fs");
const { pipeline } = require("node:stream");
const [port, dir] = process.argv.slice(1);
http.createServer((req, res) => {
  if (req.method === "GET") return res.end("ok");
  pipeline(req, fs.createWriteStream(dir + "/anchor.bin"), (err) => {
    res.statusCode = err ? 500 : 201;
    res.end();
  });
}).listen(Number(port), "127.0.0.1");
`;

function body(size: number): Readable {
  const chunk = Buffer.alloc(MiB, 7);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

/** PUTs `size` bytes; resolves with the seconds until the response arrived. */
export function put(
  port: number,
  path: string,
  size: number,
  headers: Record<string, string>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "PUT",
        path,
        headers: {
          "content-type": "application/octet-stream",
          "content-length": String(size),
          ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 201) reject(new Error(`upload answered ${res.statusCode}`));
          else resolve((performance.now() - t0) / 1000);
        });
      },
    );
    req.on("error", reject);
    body(size).pipe(req);
  });
}

export async function uploadBench(): Promise<string> {
  const quick = process.env.BENCH_QUICK === "1";
  const size = (quick ? 256 : 1024) * MiB;
  const runs = quick ? 2 : 3;
  const dir = await mkdtemp(join(tmpdir(), "bench-upload-"));
  const home = join(dir, "home");
  const anchorDir = join(dir, "anchor");
  await mkdir(home);
  await mkdir(anchorDir);
  console.log(
    `upload: ${size / MiB} MiB per upload over loopback, ${runs} alternating runs per side (files in ${tmpdir()})`,
  );
  const plus = await startBenchPlus(dir, home);
  const anchorPort = await freePort();
  const anchor = spawnServer(
    process.execPath,
    ["-e", ANCHOR_SERVER, String(anchorPort), anchorDir],
    process.env,
  );
  try {
    await waitForHttp200(`http://127.0.0.1:${anchorPort}/`, anchor);
    const host = `127.0.0.1:${plus.port}`;
    const headers = { ...(await plus.auth()), host };
    const target = `/api/files/upload?${new URLSearchParams({ dir: "~", name: "bench.bin", conflict: "replace" })}`;
    const ours: number[] = [];
    const theirs: number[] = [];
    const growth: number[] = [];
    for (let run = 1; run <= runs; run++) {
      const a = await put(anchorPort, "/", size, {});
      await rm(join(anchorDir, "anchor.bin"), { force: true });
      const pid = plus.server.child.pid!;
      const before = treeRssMb(pid).total;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, treeRssMb(pid).total);
      }, 50);
      let s: number;
      try {
        s = await put(plus.port, target, size, headers);
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, treeRssMb(pid).total);
      const written = (await stat(join(home, "bench.bin"))).size;
      if (written !== size) throw new Error(`plus wrote ${written} bytes, not ${size}`);
      await rm(join(home, "bench.bin"), { force: true });
      theirs.push(size / MiB / a);
      ours.push(size / MiB / s);
      growth.push(peak - before);
      console.log(
        `  run ${run}: anchor ${num(size / MiB / a)} MiB/s; gateway ${num(size / MiB / s)} MiB/s; plus RSS ${num(before, 1)} -> peak ${num(peak, 1)} MB (+${num(peak - before, 1)})`,
      );
    }
    const o = median(ours);
    const t = median(theirs);
    const g = Math.max(...growth);
    const ratio = o / t;
    console.log(
      `  median: anchor ${num(t)} MiB/s, gateway ${num(o)} MiB/s, ratio ${num(ratio, 2)} (target >= ${RATIO_TARGET}: ${yesNo(ratio >= RATIO_TARGET)}); largest RSS growth ${num(g, 1)} MB (target < ${RSS_TARGET_MB}: ${yesNo(g < RSS_TARGET_MB)})`,
    );
    return `upload: ratio=${num(ratio, 2)} gateway_mib_s=${num(o)} anchor_mib_s=${num(t)} target_met=${yesNo(ratio >= RATIO_TARGET)} rss_growth_mb=${num(g, 1)} rss_target_met=${yesNo(g < RSS_TARGET_MB)} size_mib=${size / MiB} runs=${runs}`;
  } finally {
    await stopServer(anchor);
    await plus.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
