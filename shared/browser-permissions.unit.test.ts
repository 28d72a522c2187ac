import { describe, expect, it } from "vitest";
import { BrowserInbox, browserPermissions } from "./browser-permissions.js";

describe("the browser's NATS permissions", () => {
  const p = browserPermissions("w1", ["terminals", "workspace"]);

  it("creates consumers only in the subject form, with a filter in the workspace or a view of plus", () => {
    const creates = p.publish.allow.filter((s) => s.startsWith("$JS.API.CONSUMER.CREATE."));
    expect(creates.length).toBeGreaterThan(0);
    for (const s of creates) {
      // $JS API CONSUMER CREATE <stream> <name> <filter…>: never the stream alone or a name alone.
      const [, , , , stream, name, ...filter] = s.split(".");
      expect(stream, s).toMatch(/^(WS_|KV_)[-\w]+$/);
      expect(name, s).toBe("*");
      expect(filter.join("."), s).toMatch(/^(ws\.w1\.>|\$KV\.[-\w]+\.(w1|w1\.>|>))$/);
      if (filter.join(".").endsWith(".>") && !filter.join(".").includes("w1"))
        expect([
          "KV_services",
          "KV_remote-sessions",
          "KV_port-forwards",
          "KV_sync-pairs",
          "KV_apps",
        ]).toContain(stream);
    }
    expect(p.publish.allow.some((s) => s.includes("DURABLE"))).toBe(false);
    expect(p.publish.deny).toContain("$JS.API.CONSUMER.DURABLE.CREATE.>");
  });

  it("denies every service durable's name: create, delete, pull", () => {
    for (const d of ["terminals", "workspace"])
      expect(p.publish.deny).toEqual(
        expect.arrayContaining([
          `$JS.API.CONSUMER.CREATE.*.${d}`,
          `$JS.API.CONSUMER.CREATE.*.${d}.>`,
          `$JS.API.CONSUMER.DELETE.*.${d}`,
          `$JS.API.CONSUMER.MSG.NEXT.*.${d}`,
        ]),
      );
    expect(() => browserPermissions("w1", ["a.b"])).toThrow();
  });

  it("receives on its own inbox prefix, never _INBOX", () => {
    expect(p.subscribe.allow).toContain(`${BrowserInbox}.>`);
    expect(p.subscribe.allow.some((s) => s.startsWith("_INBOX."))).toBe(false);
    expect(
      p.publish.allow.some((s) => /^\$JS\.API\.STREAM\.(CREATE|UPDATE|DELETE|PURGE)/.test(s)),
    ).toBe(false);
    expect(p.publish.allow.some((s) => s.startsWith("$KV.") || s.startsWith("$JS.ACK"))).toBe(
      false,
    );
  });

  it("publishes workspace presence on plus's one account subject, and hears every page's", () => {
    expect(p.publish.allow).toContain("ws.w1.presence.page.user");
    expect(p.publish.allow.filter((s) => s.includes(".presence.page"))).toEqual([
      "ws.w1.presence.page.user",
    ]);
    expect(p.subscribe.allow).toContain("ws.w1.presence.page.*");
    expect(p.subscribe.allow.some((s) => s.startsWith("ws.w2."))).toBe(false);
  });
});
