/**
 * Every durable consumer a running cocalc-plus has is out of the browser user's reach: the
 * deny list comes from the service definitions, and this checks it against what the services
 * actually made.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { errors } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectServices } from "../../services/runtime/connect.js";
import { BrowserInbox } from "../../shared/browser-permissions.js";
import { PLUS_BIN, type RunningPlus, removeHome, startPlus } from "../../test/helpers/plus.js";

const why = existsSync(PLUS_BIN) ? "" : "not built (npm run build)";
if (why) console.warn(`cocalc-plus NATS permission tests skipped: ${why}`);

function isPermissionViolation(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause)
    if (e instanceof errors.PermissionViolationError) return true;
  return false;
}

describe.skipIf(why !== "")("cocalc-plus - the browser's NATS user", () => {
  let plus: RunningPlus;
  beforeAll(async () => {
    plus = await startPlus();
  });
  afterAll(async () => {
    await plus.stop();
    await removeHome(plus.home);
  });

  it("security - no durable consumer of any service can be taken over, deleted or pulled from", async () => {
    const run = JSON.parse(readFileSync(join(plus.dataDir, "run.json"), "utf8"));
    const secrets = JSON.parse(readFileSync(join(plus.dataDir, "secrets.json"), "utf8"));
    const services = await connectServices(
      { url: run.natsUrl, seed: secrets.servicesSeed },
      "permissions test",
    );
    const browser = await connect({
      servers: run.natsUrl,
      user: "browser",
      pass: secrets.browserPassword,
      inboxPrefix: BrowserInbox,
    });
    try {
      const jsm = await jetstreamManager(services);
      const durables: { stream: string; name: string; filter: string }[] = [];
      for await (const s of jsm.streams.list())
        for await (const c of jsm.consumers.list(s.config.name))
          if (c.config.durable_name)
            durables.push({
              stream: s.config.name,
              name: c.name,
              filter: c.config.filter_subject ?? ">",
            });
      // The services have started: their durables are there.
      expect(durables.map((d) => d.name)).toEqual(
        expect.arrayContaining(["workspace", "terminals", "agents", "remote", "sync", "forwards"]),
      );
      for (const d of durables) {
        const before = (await jsm.consumers.info(d.stream, d.name)).config;
        // Its own filter, and one inside the workspace (the only filters the browser may send).
        for (const filter of [d.filter, `ws.${run.wsid}.>`]) {
          const body = { stream_name: d.stream, config: { name: d.name, filter_subject: filter } };
          for (const subject of [
            `$JS.API.CONSUMER.CREATE.${d.stream}.${d.name}.${filter}`,
            `$JS.API.CONSUMER.CREATE.${d.stream}.${d.name}`,
            `$JS.API.CONSUMER.CREATE.${d.stream}`,
            `$JS.API.CONSUMER.DURABLE.CREATE.${d.stream}.${d.name}`,
            `$JS.API.CONSUMER.DELETE.${d.stream}.${d.name}`,
            `$JS.API.CONSUMER.MSG.NEXT.${d.stream}.${d.name}`,
          ]) {
            const err = await browser
              .request(subject, JSON.stringify(body), { timeout: 5000 })
              .then(
                () => undefined,
                (e: unknown) => e,
              );
            expect(isPermissionViolation(err), `${subject}: ${String(err)}`).toBe(true);
          }
        }
        expect((await jsm.consumers.info(d.stream, d.name)).config).toEqual(before);
      }
    } finally {
      await browser.close();
      await services.close();
    }
  });
});
