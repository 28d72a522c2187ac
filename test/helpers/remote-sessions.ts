/**
 * Remote sessions for tests of what hangs off one (sync pairs, port forwards): a session that
 * `cocalc-plus ssh` connects, or, for a service test, the real remote service keeping the
 * `remote-sessions` view with a session added the way its first connect adds it
 * (`SessionAdded`), without connecting anything.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Browser } from "playwright-core";
import { PACKAGE_ROOT } from "../../cli/common/version.js";
import { remoteService } from "../../services/remote/index.js";
import { publishEvent } from "../../services/runtime/publish.js";
import type { ServiceDefinition } from "../../services/runtime/service.js";
import { envelope } from "../../shared/envelope.js";
import { SessionAdded, sessionIdOf } from "../../shared/remote.js";
import { Buckets, Keys, remoteSubjects } from "../../shared/subjects.js";
import { until } from "./nats.js";
import { runPlus } from "./plus.js";
import type { Sshd } from "./sshd.js";

/** The Remote sessions page of the plus of `dataDir`, signed in, in a browser context of its own. */
export async function remoteSessionsPage(browser: Browser, dataDir: string) {
  const run = JSON.parse(readFileSync(join(dataDir, "run.json"), "utf8")) as { url: string };
  const { token } = JSON.parse(readFileSync(join(dataDir, "secrets.json"), "utf8")) as {
    token: string;
  };
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${run.url}?token=${token}`);
  await page.waitForURL((u) => !u.search.includes("token"));
  await page.goto(`${run.url}#remote`);
  return { context, page };
}

/** Connects the session of `t` with `cocalc-plus ssh` on the plus of `dataDir`; throws why not. */
export function connectSession(t: Sshd, dataDir: string, env: NodeJS.ProcessEnv): void {
  const up = runPlus(["ssh", t.target, "--no-open", "--data-dir", dataDir, ...t.sshArgs], env);
  if (up.code !== 0) throw new Error(`the session to ${t.target} did not connect: ${up.stderr}`);
}

/** The remote service on `dataDir` (its control sockets, tokens and sessions file). */
export function remoteServiceForTests(dataDir: string): ServiceDefinition {
  return remoteService({ dataDir, bundle: { version: "test", root: PACKAGE_ROOT } });
}

/** Adds session `target` as its first connect would, and waits until the view has it. */
export async function addSession(
  t: { nc: NatsConnection; js: JetStreamClient },
  target: string,
): Promise<void> {
  const sid = sessionIdOf(target);
  await publishEvent(
    t.js,
    remoteSubjects(sid).session,
    envelope(
      SessionAdded,
      { target, options: {} },
      { actor: "user", at: new Date().toISOString() },
    ),
  );
  const kv = await new Kvm(t.nc).open(Buckets.remoteSessions);
  await until(`session ${target} in the view`, async () => {
    const e = await kv.get(Keys.remoteSession(sid));
    return e?.operation === "PUT" && e.length > 0;
  });
}
