/**
 * A hub on loopback behind a reverse proxy that terminates HTTPS (`--public-url
 * https://hub.example.test/`): its links name the public URL, it answers requests for that
 * name (the proxy keeps the Host), refuses other names, and its app cookie is Secure, since
 * the browser reaches it over HTTPS. With `--trust-proxy 127.0.0.1` the proxy's
 * X-Forwarded-For is the client's address, so one client's guessing does not slow the others.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProxyTokens } from "../../services/gateway/app-proxy-tokens.js";
import { HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { startTestHub } from "../../test/helpers/launchpad.js";
import type { RunningHub } from "./hub.js";

const PUBLIC = "hub.example.test";

describe("a hub behind an HTTPS proxy (--public-url)", () => {
  let dir: string;
  let hub: RunningHub;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cocalc-hub-public-"));
    hub = await startTestHub(join(dir, "hub"), {
      publicUrl: `https://${PUBLIC}/`,
      trustProxies: ["127.0.0.1"],
      appsDomain: `apps.${PUBLIC}`,
    });
  }, 120_000);
  afterAll(async () => {
    await hub?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  /** One request to the hub's port as the proxy sends it (Host and Origin the public name's). */
  const ask = (
    method: string,
    path: string,
    o: { host?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>(
      (resolve, reject) => {
        const host = o.host ?? PUBLIC;
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port: hub.port,
            method,
            path,
            headers: {
              host,
              origin: `https://${host}`,
              ...(o.body !== undefined && { "content-type": "application/json" }),
              ...o.headers,
            },
          },
          (res) => {
            let text = "";
            res.on("data", (d) => (text += d));
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, text }),
            );
          },
        );
        req.on("error", reject);
        req.end(o.body === undefined ? undefined : JSON.stringify(o.body));
      },
    );

  it("public url - its links name it; it answers for that name and refuses others", async () => {
    expect(hub.url).toBe(`https://${PUBLIC}/`);
    expect(hub.setupUrl).toMatch(new RegExp(`^https://${PUBLIC}/setup\\?token=`));
    const state = await ask("GET", HUB_PATHS.state);
    expect(state.status, state.text).toBe(200);
    expect(JSON.parse(state.text)).toMatchObject({ setUp: false });
    const other = await ask("GET", HUB_PATHS.state, { host: "evil.example" });
    expect(other.status).toBe(403);
    expect(other.text).toContain("ERR_GATEWAY_HOST");
  });

  it("public url - over the proxy's HTTPS the app cookie is Secure", async () => {
    const setupToken = new URL(hub.setupUrl!).searchParams.get("token")!;
    const made = await ask("POST", HUB_PATHS.setup, {
      body: { setupToken, email: "admin@example.com", password: "an admin's password" },
    });
    expect(made.status, made.text).toBe(200);
    const { credential, account } = JSON.parse(made.text) as {
      credential: string;
      account: { id: string };
    };
    const tokens = await ProxyTokens.open(join(hub.dataDir, "keys", "proxy-key"));
    const link = tokens.sign(
      {
        kind: "link",
        user: account.id,
        wsid: "wsp",
        port: 8080,
        session: credential.split(".")[0]!,
      },
      60,
    );
    // On the app's own origin under the public name's apps domain.
    const r = await ask("GET", `/?token=${encodeURIComponent(link)}`, {
      host: `p8080-wsp.apps.${PUBLIC}`,
      headers: { "sec-fetch-site": "none" },
    });
    expect(r.status, r.text).toBe(303);
    expect(String(r.headers["set-cookie"])).toMatch(/HttpOnly; SameSite=Strict; Secure/);
  });

  it("public url - behind a trusted proxy, guessing slows its client's address, not everyone's", async () => {
    const signIn = (client: string, n: number) =>
      ask("POST", HUB_PATHS.signIn, {
        body: { email: `nobody${n}@example.com`, password: "a wrong password" },
        headers: { "x-forwarded-for": client },
      });
    for (let n = 0; n < 5; n++) expect((await signIn("203.0.113.7", n)).status).toBe(401);
    const limited = await signIn("203.0.113.7", 5);
    expect(limited.status).toBe(429);
    // Another person behind the same proxy is not slowed by it.
    expect((await signIn("198.51.100.20", 6)).status).toBe(401);
  });
});
