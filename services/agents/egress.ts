/**
 * The egress proxy: how a confined agent without network still reaches its model's API.
 * The agent process runs in a network namespace of its own (only its own loopback), so the
 * gateway and nats-server on this machine's loopback cannot be reached from it nor from
 * anything it starts. Inside, a small relay listens on the namespace's loopback and passes
 * each connection to this proxy's Unix socket, bound into the sandbox; the agent is given
 * HTTPS_PROXY / HTTP_PROXY / ALL_PROXY pointing at the relay. The proxy, outside, resolves
 * each destination itself and connects only to public addresses: loopback, private,
 * link-local, carrier-grade NAT, multicast and reserved ranges are refused (403), so neither
 * this machine's services nor the local network nor a cloud metadata endpoint is reachable.
 */

import { lookup } from "node:dns/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, request, type Server } from "node:http";
import { BlockList, connect, isIP, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../runtime/logger.js";

/** Where the proxy's socket appears inside the sandbox (its /tmp is private). */
export const EGRESS_IN_SANDBOX = "/tmp/.cocalc-egress.sock";

/**
 * The relay that runs inside the sandbox, in front of the agent: `node -e RELAY -- SOCKET
 * COMMAND ARGS…`. It never writes to stdout (the agent's ACP channel), passes the agent's
 * stdio through and exits as the agent does.
 */
const RELAY = `
const net = require("node:net"), { spawn } = require("node:child_process"), os = require("node:os");
const [sock, cmd, ...args] = process.argv.slice(1);
const server = net.createServer((c) => {
  const u = net.connect(sock);
  c.pipe(u); u.pipe(c);
  c.on("error", () => u.destroy()); u.on("error", () => c.destroy());
  c.on("close", () => u.destroy()); u.on("close", () => c.destroy());
});
server.listen(0, "127.0.0.1", () => {
  const url = "http://127.0.0.1:" + server.address().port;
  const env = { ...process.env, NODE_USE_ENV_PROXY: "1", NO_PROXY: "", no_proxy: "" };
  for (const k of ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"]) env[k] = env[k.toLowerCase()] = url;
  const child = spawn(cmd, args, { stdio: "inherit", env });
  for (const s of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(s, () => child.kill(s));
  child.on("error", (e) => { process.stderr.write("cannot start " + cmd + ": " + e.message + "\\n"); process.exit(127); });
  child.on("exit", (code, sig) => process.exit(code ?? 128 + (os.constants.signals[sig] ?? 0)));
});
`;

/** `command` run behind the egress relay, by `node`. */
export function egressRelayArgv(node: string, command: string[]): string[] {
  return [node, "-e", RELAY, "--", EGRESS_IN_SANDBOX, ...command];
}

/** Destinations that are not the public internet. */
function notPublic(): BlockList {
  const b = new BlockList();
  const v4: [string, number][] = [
    ["0.0.0.0", 8],
    ["10.0.0.0", 8],
    ["100.64.0.0", 10],
    ["127.0.0.0", 8],
    ["169.254.0.0", 16],
    ["172.16.0.0", 12],
    ["192.0.0.0", 24],
    ["192.0.2.0", 24],
    ["192.168.0.0", 16],
    ["198.18.0.0", 15],
    ["198.51.100.0", 24],
    ["203.0.113.0", 24],
    ["224.0.0.0", 4],
    ["240.0.0.0", 4],
  ];
  for (const [net, prefix] of v4) b.addSubnet(net, prefix, "ipv4");
  const v6: [string, number][] = [
    ["::", 128],
    ["::1", 128],
    ["64:ff9b::", 96],
    ["100::", 64],
    ["2001:db8::", 32],
    ["fc00::", 7],
    ["fe80::", 10],
    ["fec0::", 10],
    ["ff00::", 8],
  ];
  for (const [net, prefix] of v6) b.addSubnet(net, prefix, "ipv6");
  return b;
}
const NOT_PUBLIC = notPublic();

/** True for an address on the public internet (IPv4-mapped IPv6 judged as its IPv4). */
export function isPublicAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return !NOT_PUBLIC.check(mapped[1]!, "ipv4");
  return !NOT_PUBLIC.check(ip, family === 4 ? "ipv4" : "ipv6");
}

export interface EgressOptions {
  log: Logger;
  /** Which resolved addresses may be reached (default: public ones only). Tests widen it. */
  allow?: (ip: string) => boolean;
}

class Refused extends Error {}

/** The proxy, listening on a Unix socket in a private (0700) folder of its own. */
export class EgressProxy {
  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    readonly socket: string,
    private readonly open: Set<Socket>,
  ) {}

  static async start(o: EgressOptions): Promise<EgressProxy> {
    const allow = o.allow ?? isPublicAddress;
    const log = o.log.child({ part: "egress" });
    const dir = await mkdtemp(join(tmpdir(), "cocalc-egress-"));
    const socket = join(dir, "egress.sock");
    const open = new Set<Socket>();
    const track = (s: Socket) => {
      open.add(s);
      s.on("close", () => open.delete(s));
    };
    /** The address to connect to for `host`: resolved here, refused unless every answer may be reached. */
    const destination = async (host: string): Promise<string> => {
      const bare = host.replace(/^\[(.*)\]$/, "$1");
      const addresses = isIP(bare)
        ? [bare]
        : (await lookup(bare, { all: true }).catch(() => [])).map((a) => a.address);
      if (addresses.length === 0) throw new Refused(`cannot resolve ${host}`);
      const bad = addresses.find((a) => !allow(a));
      if (bad !== undefined) {
        throw new Refused(
          `${host} (${bad}) is not a public internet address: agents without network reach only the internet (allow network in the thread settings for this machine's or the local network)`,
        );
      }
      return addresses[0]!;
    };
    const server = createServer((req, res) => {
      // A plain HTTP request through the proxy: its URL is absolute.
      void (async () => {
        let url: URL;
        try {
          url = new URL(req.url ?? "");
          if (url.protocol !== "http:") throw new Refused("only http:// URLs (or CONNECT)");
        } catch (err) {
          res.writeHead(400, { "content-type": "text/plain" }).end(`${(err as Error).message}\n`);
          return;
        }
        try {
          const address = await destination(url.hostname);
          const up = request(
            {
              host: address,
              port: Number(url.port || 80),
              method: req.method,
              path: `${url.pathname}${url.search}`,
              headers: withoutProxyHeaders(req),
            },
            (r) => {
              res.writeHead(r.statusCode ?? 502, r.headers);
              r.pipe(res);
            },
          );
          up.on("error", (err) => {
            if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
            res.end(`${err.message}\n`);
          });
          req.pipe(up);
        } catch (err) {
          log.info({ host: url.hostname }, "egress refused");
          res.writeHead(403, { "content-type": "text/plain" }).end(`${(err as Error).message}\n`);
        }
      })();
    });
    server.on("connect", (req: IncomingMessage, client: Socket, head: Buffer) => {
      track(client);
      client.on("error", () => client.destroy());
      void (async () => {
        const target = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(req.url ?? "");
        if (!target || Number(target[2]) > 65535) {
          client.end("HTTP/1.1 400 Bad Request\r\n\r\nCONNECT needs host:port\n");
          return;
        }
        let address: string;
        try {
          address = await destination(target[1]!);
        } catch (err) {
          log.info({ host: target[1] }, "egress refused");
          client.end(
            `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\n${(err as Error).message}\n`,
          );
          return;
        }
        const up = connect({ host: address, port: Number(target[2]) });
        track(up);
        up.on("connect", () => {
          client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
          if (head.length > 0) up.write(head);
          up.pipe(client);
          client.pipe(up);
        });
        up.on("error", (err) => {
          if (client.writable && up.connecting) {
            client.end(`HTTP/1.1 502 Bad Gateway\r\n\r\n${err.message}\n`);
          }
          client.destroy();
        });
        client.on("close", () => up.destroy());
        up.on("close", () => client.destroy());
      })();
    });
    server.on("connection", track);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socket, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => log.warn({ err }, "egress proxy error"));
    return new EgressProxy(server, dir, socket, open);
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

function withoutProxyHeaders(req: IncomingMessage): IncomingMessage["headers"] {
  const h = { ...req.headers };
  delete h["proxy-authorization"];
  delete h["proxy-connection"];
  return h;
}
