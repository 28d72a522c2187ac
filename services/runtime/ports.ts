import { createServer } from "node:net";

/** A TCP port that was free on `host` a moment ago. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** A base port that, with base + each of `offsets`, was free on `host` a moment ago. */
export async function freePortRange(offsets: readonly number[], host = "127.0.0.1") {
  for (let i = 0; i < 100; i++) {
    const p = 20_000 + Math.floor(Math.random() * 30_000);
    let free = await portFree(p, host);
    for (const o of offsets) free = free && (await portFree(p + o, host));
    if (free) return p;
  }
  throw new Error(`no free run of ports at offsets 0, ${offsets.join(", ")}`);
}

/**
 * Why nothing could listen on 127.0.0.1:port (or [::1]:port) right now: `in-use` (with the
 * error code and host) or `denied`, or undefined when both are free.
 */
export async function listenProblem(
  port: number,
): Promise<{ kind: "in-use"; code: string; host: string } | { kind: "denied" } | undefined> {
  for (const host of ["127.0.0.1", "::1"]) {
    const code = await new Promise<string | undefined>((resolve) => {
      const srv = createServer();
      srv.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "ERROR"));
      srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(undefined)));
    });
    if (code === undefined || code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT") continue;
    if (code === "EACCES") return { kind: "denied" };
    return { kind: "in-use", code, host: host.includes(":") ? `[${host}]` : host };
  }
  return undefined;
}
