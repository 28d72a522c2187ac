import { describe, expect, it } from "vitest";
import { authorizeProxied, type ProxyAuthContext } from "./app-proxy-request.js";
import { ProxyTokens } from "./app-proxy-tokens.js";

describe("app proxy - the cookie a link is exchanged for", () => {
  const exchange = async (secure: boolean | undefined) => {
    const tokens = await ProxyTokens.open();
    const ctx: ProxyAuthContext = {
      tokens,
      wsid: "w1",
      signedIn: (id) => id === "s1",
      userOf: () => "a1",
      refusedPorts: new Set(),
      mount: "/ws/w1",
      ...(secure !== undefined && { secure }),
    };
    const link = tokens.sign(
      { kind: "link", user: "a1", wsid: "w1", port: 8080, session: "s1" },
      60,
    );
    const d = authorizeProxied(
      {
        method: "GET",
        url: `/ws/w1/port/8080/?token=${encodeURIComponent(link)}`,
        headers: { host: "hub.example:8443" },
        upgrade: false,
      },
      ctx,
    );
    if (d.kind !== "exchange") throw new Error(`expected an exchange, got ${d.kind}`);
    return d.setCookie;
  };

  it("app proxy - over HTTPS the cookie is Secure, HttpOnly and SameSite=Strict", async () => {
    const c = await exchange(true);
    expect(c).toMatch(/; HttpOnly; SameSite=Strict; Secure$/);
    expect(c).toContain("Path=/ws/w1/port/8080/");
  });

  it("app proxy - over plain HTTP (loopback) it cannot be Secure: a browser would drop it", async () => {
    for (const secure of [false, undefined]) {
      const c = await exchange(secure);
      expect(c).toContain("HttpOnly; SameSite=Strict");
      expect(c).not.toContain("Secure");
    }
  });
});
