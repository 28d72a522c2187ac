/**
 * `cocalc-plus sync …` against a running plus (the built bundle), syncing with a real sshd on
 * loopback where a second local user is the remote.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  plusEnv,
  type RunningPlus,
  removeHome,
  runPlus,
  startPlus,
  tempHome,
} from "../../test/helpers/plus.js";
import {
  installBundle,
  nodeMissingReason,
  type Sshd,
  SYNC_REMOTE_USER,
  sshdSkipReason,
  startSshd,
} from "../../test/helpers/sshd.js";

const BUNDLE_BUILT = existsSync(new URL("../../dist/bundle/plus.js", import.meta.url));
let why =
  sshdSkipReason() ?? (BUNDLE_BUILT ? undefined : "dist/bundle is not built (npm run build)");
if (why) console.warn(`sync CLI tests skipped: ${why}`);

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(why !== undefined)("cocalc-plus sync", () => {
  let sshd: Sshd;
  let plus: RunningPlus;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let session: string;

  beforeAll(async () => {
    sshd = await startSshd(SYNC_REMOTE_USER);
    why = nodeMissingReason(sshd);
    if (why) {
      console.warn(`sync CLI tests skipped: ${why}`);
      return;
    }
    const bundle = await installBundle(sshd);
    home = await tempHome();
    const extra = {
      COCALC_SYNC_SSH_OPTIONS: `-i ${sshd.key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=${join(sshd.dir, "plus_known_hosts")}`,
      COCALC_SYNC_REMOTE_BUNDLE: bundle,
    };
    plus = await startPlus({ home, env: extra });
    env = plusEnv(home, extra);
    session = `${sshd.user}@127.0.0.1:${sshd.port}`;
  });

  // A prerequisite found missing in beforeAll skips each test with the reason.
  beforeEach((ctx) => {
    if (why) ctx.skip(why);
  });

  afterAll(async () => {
    await plus?.stop();
    await sshd?.stop();
    if (home) await removeHome(home);
    if (sshd) rmSync(join(sshd.home, "cli"), { recursive: true, force: true });
  });

  const sync = (...args: string[]) => runPlus(["sync", ...args, "--data-dir", plus.dataDir], env);

  it("adds, lists, pauses, resumes, checks and removes a pair; refuses bad input", async () => {
    mkdirSync(join(home, "cli/proj"), { recursive: true });
    writeFileSync(join(home, "cli/proj/hello.txt"), "hello");
    const added = sync("add", "cli/proj", "--session", session, "--ignore", "*.tmp");
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/added sync pair p\S+: ~\/cli\/proj/);
    const remote = join(sshd.home, "cli/proj");
    await until("the file on the remote", () => existsSync(join(remote, "hello.txt")));
    await until("all files synced in the list", () =>
      sync("list").stdout.includes("all files synced"),
    );

    const nested = sync("add", "cli/proj/sub", "--session", session);
    expect(nested.code).toBe(1);
    expect(nested.stderr).toMatch(/ERR_SYNC_NESTED/);
    const outside = sync("add", "/srv/x", "--session", session);
    expect(outside.stderr).toMatch(/outside the home directory.*ERR_SYNC_PATH/);
    const badIgnore = sync("add", "cli/other", "--session", session, "--ignore", "[oops");
    expect(badIgnore.stderr).toMatch(/ERR_SYNC_IGNORE/);
    expect(sync("add", "cli/x", "--session", session, "--prefer", "both").code).toBe(2);
    expect(sync("frobnicate").code).toBe(2);
    expect(existsSync(join(sshd.home, "cli/other"))).toBe(false);

    // A second pair keeps syncing: its copy of a file written after later.txt is the sign that
    // a running pair would have copied later.txt by then.
    mkdirSync(join(home, "cli/beacon"), { recursive: true });
    const beacon = sync("add", "cli/beacon", "--session", session);
    expect(beacon.code, beacon.stderr).toBe(0);
    const beaconPair = /added sync pair (p\S+):/.exec(beacon.stdout)![1]!;

    expect(sync("pause", "cli/proj").stdout).toMatch(/paused/);
    expect(sync("list").stdout).toMatch(/paused/);
    writeFileSync(join(home, "cli/proj/later.txt"), "x");
    writeFileSync(join(home, "cli/beacon/written-after.txt"), "x");
    await until("the beacon pair copied a later write", () =>
      existsSync(join(sshd.home, "cli/beacon/written-after.txt")),
    );
    expect(existsSync(join(remote, "later.txt"))).toBe(false);
    expect(sync("rm", beaconPair).code).toBe(0);
    expect(sync("resume", "~/cli/proj").code).toBe(0);
    await until("the change after resume", () => existsSync(join(remote, "later.txt")));
    expect(sync("check", "cli/proj").stdout).toMatch(/deep check started/);
    const list = JSON.parse(sync("list", "--json").stdout) as { pair: string }[];
    expect(list).toHaveLength(1);
    expect(sync("rm", list[0]!.pair).stdout).toMatch(/no files were deleted/);
    expect(sync("list").stdout).toMatch(/no sync pairs/);
    expect(existsSync(join(remote, "hello.txt"))).toBe(true);
  });
});
