/**
 * The browser's NATS user against a real nats-server, connected the way the web app connects
 * (WebSocket, password, its own inbox prefix): what the web app does works, and nothing it
 * could send changes a service's durable consumer, a stream or a view.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { errors, type NatsConnection, nanos, nuid, wsconnect } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { BrowserInbox } from "../../shared/browser-permissions.js";
import {
  agentSubjects,
  Buckets,
  Keys,
  Streams,
  terminalSubjects,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { setup, TEST_WSID, type TestNats, testLog } from "../../test/helpers/nats.js";
import { ensureDurable } from "./consumer.js";

const OUT = terminalSubjects(TEST_WSID, "t1").out;
/** A service's durable on a stream the web app reads. */
const TERMINALS = { stream: Streams.WS_TERM, durable: "terminals", filterSubject: OUT };

/** nats.js rejects a refused request with a RequestError whose cause is the violation. */
function isPermissionViolation(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause)
    if (e instanceof errors.PermissionViolationError) return true;
  return false;
}

async function expectViolation(p: Promise<unknown>) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isPermissionViolation(err), String(err)).toBe(true);
}

describe("the browser's NATS user", () => {
  let t: TestNats;
  let browser: NatsConnection;

  /** Connects as the browser's user, as web/src/lib/connection.ts does. */
  const connectBrowser = (inboxPrefix: string | null = BrowserInbox) =>
    wsconnect({
      servers: `ws://127.0.0.1:${t.server.config.wsPort}`,
      user: t.browser.user,
      pass: t.browser.password,
      reconnect: false,
      ...(inboxPrefix !== null && { inboxPrefix }),
    });

  /** The services' durable as the server has it. */
  const durableConfig = async () =>
    (await t.jsm.consumers.info(TERMINALS.stream, TERMINALS.durable)).config;

  /** Sends a raw request as the browser; nats-server must refuse to let it out. */
  async function refused(subject: string, body: unknown = {}) {
    const err = await browser.request(subject, JSON.stringify(body), { timeout: 5000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPermissionViolation(err), `${subject}: ${String(err)}`).toBe(true);
  }

  beforeAll(async () => {
    // Node 20 has no global WebSocket; nats.js uses whatever is there.
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
    t = await setup({ streams: true, durables: [TERMINALS.durable, "workspace"] });
    await ensureDurable(t.jsm, TERMINALS, testLog);
    await t.js.publish(OUT, "hello");
    browser = await connectBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t.cleanup();
  });

  describe("consumer create", () => {
    // What the legacy form let a browser do: rewrite the durable, dropping its durable name.
    const hijack = {
      name: TERMINALS.durable,
      filter_subject: `ws.${TEST_WSID}.term.*.out`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(1),
      max_deliver: 1,
      inactive_threshold: nanos(1000),
    };

    it("security - every form that could reach a service's durable is refused and changes nothing", async () => {
      const before = await durableConfig();
      const consumers = async () =>
        (await t.jsm.streams.info(Streams.WS_TERM)).state.consumer_count;
      const count = await consumers();
      const api = "$JS.API.CONSUMER";
      const body = (config: object) => ({ stream_name: Streams.WS_TERM, config });
      // Legacy: the name (and filter) only in the body.
      await refused(`${api}.CREATE.${Streams.WS_TERM}`, body(hijack));
      // Legacy durable create.
      await refused(
        `${api}.DURABLE.CREATE.${Streams.WS_TERM}.${TERMINALS.durable}`,
        body({ ...hijack, durable_name: TERMINALS.durable }),
      );
      // Subject form with a service's name, with and without a filter in the subject.
      await refused(`${api}.CREATE.${Streams.WS_TERM}.${TERMINALS.durable}.${OUT}`, {
        ...body({ ...hijack, filter_subject: OUT }),
      });
      await refused(`${api}.CREATE.${Streams.WS_TERM}.${TERMINALS.durable}`, body(hijack));
      // Subject form, a name of its own, the filter only in the body: any filter would do.
      await refused(`${api}.CREATE.${Streams.WS_TERM}.web1`, body({ ...hijack, name: "web1" }));
      // Subject form with a filter outside the workspace.
      for (const filter of ["ws.other.term.t1.out", "ws.*.term.t1.out", "ws.>", ">"])
        await refused(`${api}.CREATE.${Streams.WS_TERM}.web1.${filter}`, {
          ...body({ name: "web1", filter_subject: filter }),
        });
      // A stream the web app does not read.
      await refused(`${api}.CREATE.${Streams.WS_CHAT}.web1.ws.${TEST_WSID}.chat.>`, {
        stream_name: Streams.WS_CHAT,
        config: { name: "web1", filter_subject: `ws.${TEST_WSID}.chat.>` },
      });
      // Nor may it delete the durable, pull its events, or ack them.
      await refused(`${api}.DELETE.${Streams.WS_TERM}.${TERMINALS.durable}`);
      await refused(`${api}.MSG.NEXT.${Streams.WS_TERM}.${TERMINALS.durable}`, { batch: 1 });
      await refused(`$JS.ACK.${Streams.WS_TERM}.${TERMINALS.durable}.1.1.1.0.0`);
      // Through nats.js too: a durable of the same name, as an attacker's page would ask.
      const jsm = await jetstreamManager(browser, { timeout: 5000 });
      await expectViolation(
        jsm.consumers.add(Streams.WS_TERM, {
          ...hijack,
          durable_name: TERMINALS.durable,
          filter_subject: OUT,
        }),
      );
      expect(await durableConfig()).toEqual(before);
      expect(await consumers()).toBe(count);
    });

    it("what the web app does - ordered consumers, turn logs and KV watches inside its workspace", async () => {
      // A terminal's output: an ordered consumer (nats.js names it, filter in the subject).
      const consumer = await jetstream(browser).consumers.get(Streams.WS_TERM, {
        filter_subjects: OUT,
        deliver_policy: DeliverPolicy.All,
      });
      const messages = await consumer.consume();
      for await (const m of messages) {
        expect(m.string()).toBe("hello");
        break;
      }
      messages.stop();
      // A turn's log: one create with a name of the web app's own (web/src/agents/turn-log.ts).
      const logSubject = agentSubjects(TEST_WSID).turnLog("h1", "u1");
      await t.js.publish(logSubject, "{}");
      const jsm = await jetstreamManager(browser, { checkAPI: false });
      const info = await jsm.consumers.add(Streams.WS_AGENT_LOG, {
        name: `log_${nuid.next()}`,
        filter_subject: logSubject,
        ack_policy: AckPolicy.None,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: nanos(60_000),
        deliver_policy: DeliverPolicy.All,
      });
      expect(info.num_pending).toBe(1);
      await jsm.consumers.delete(Streams.WS_AGENT_LOG, info.name);
      // Views: a workspace's keys, and a view of the whole plus.
      const servicesKv = await new Kvm(t.nc).open(Buckets.terms);
      await servicesKv.put(Keys.terminal(TEST_WSID, "t1"), '{"tid":"t1"}');
      await servicesKv.put(Keys.terminal("other", "t1"), '{"tid":"other"}');
      await (await new Kvm(t.nc).open(Buckets.services)).put(Keys.service("fs", "plus"), "{}");
      const kvm = new Kvm(browser);
      const terms = await kvm.open(Buckets.terms);
      const watch = await terms.watch({ key: Keys.terminals(TEST_WSID) });
      for await (const e of watch) {
        expect(e.key).toBe(Keys.terminal(TEST_WSID, "t1"));
        break;
      }
      watch.stop();
      const health = await (await kvm.open(Buckets.services)).watch({ key: ">" });
      for await (const e of health) {
        expect(e.key).toBe(Keys.service("fs", "plus"));
        break;
      }
      health.stop();
      // Another workspace's keys stay closed.
      await expectViolation(terms.watch({ key: Keys.terminals("other") }));
      // Gets go by subject (web/src/lib/views.ts), inside the workspace only.
      const direct = await kvm.open(Buckets.terms, { allow_direct: true });
      expect((await direct.get(Keys.terminal(TEST_WSID, "t1")))?.string()).toBe('{"tid":"t1"}');
      await expectViolation(direct.get(Keys.terminal("other", "t1")));
      // The newest output chunk of a terminal (web/src/terminals/terminal-session.ts).
      const last = await jsm.streams.getMessage(Streams.WS_TERM, { last_by_subj: OUT });
      expect(last?.string()).toBe("hello");
    });
  });

  it("security - streams and views cannot be created, changed, purged or written", async () => {
    const api = "$JS.API.STREAM";
    await refused(`${api}.CREATE.EVIL`, { name: "EVIL", subjects: [`ws.${TEST_WSID}.evil`] });
    await refused(`${api}.UPDATE.${Streams.WS_TERM}`, { name: Streams.WS_TERM, subjects: [">"] });
    await refused(`${api}.DELETE.${Streams.WS_TERM}`);
    await refused(`${api}.PURGE.${Streams.WS_TERM}`);
    await refused(`${api}.MSG.DELETE.${Streams.WS_TERM}`, { seq: 1 });
    await refused(`${api}.PURGE.KV_${Buckets.settings}`);
    await refused(`$JS.API.CONSUMER.LIST.${Streams.WS_TERM}`);
    await refused(`$JS.API.CONSUMER.NAMES.${Streams.WS_TERM}`);
    await refused(`$KV.${Buckets.settings}.${Keys.settings(TEST_WSID)}`, { evil: true });
    // A forged snapshot would show a finished turn as something it never said.
    await refused(`$KV.${Buckets.turnLogs}.${Keys.turnLog(TEST_WSID, "h1", "u1")}`, { v: 1 });
    await refused(`${api}.PURGE.KV_${Buckets.turnLogs}`);
    await refused(OUT, "forged output");
  });

  it("security - no subscription on _INBOX.>; its own inbox prefix works", async () => {
    const sub = browser.subscribe("_INBOX.>");
    // The server answers the subscription before the flush's ping.
    await browser.flush();
    expect(sub.isClosed()).toBe(true);
    expect(await sub.closed).toBeInstanceOf(errors.PermissionViolationError);
    const own = browser.subscribe(`${BrowserInbox}.mine`);
    await browser.flush();
    t.nc.publish(`${BrowserInbox}.mine`, "for the browser");
    for await (const m of own) {
      expect(m.string()).toBe("for the browser");
      break;
    }
    // A request's reply comes to its own inbox; without the prefix it would go to _INBOX,
    // where the browser's user may not listen.
    const echo = t.nc.subscribe(`ws.${TEST_WSID}.req.echo`, {
      callback: (_err, m) => {
        m.respond(m.data);
      },
    });
    const plain = await connectBrowser(null);
    try {
      expect((await browser.request(echo.getSubject(), "ping", { timeout: 5000 })).string()).toBe(
        "ping",
      );
      await expectViolation(plain.request(echo.getSubject(), "ping", { timeout: 5000 }));
    } finally {
      await plain.close();
      echo.unsubscribe();
    }
  });

  it("cannot speak for plus: no 'plus stopped' or store state of its own making", async () => {
    const ws = workspaceSubjects(TEST_WSID);
    await refused(ws.plusFeed, { type: "PlusStopping" });
    await refused(ws.storeFeed, { status: "full", freeBytes: 0, path: "/" });
  });
});
