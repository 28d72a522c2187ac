/**
 * `cocalc-plus sync …` against a running plus (the built bundle), syncing with a real sshd on
 * loopback where a second local user is the remote, through a session `cocalc-plus ssh` made.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { controlPath, sessionControlDir } from "../../services/remote/index.js";
import { SYNC_TEMP_DIR } from "../../services/sync/ignore.js";
import { formatTarget, parseTarget } from "../../shared/remote.js";
import {
  plusEnv,
  type RunningPlus,
  removeHome,
  runPlus,
  startPlus,
  tempHome,
} from "../../test/helpers/plus.js";
import { connectSession } from "../../test/helpers/remote-sessions.js";
import {
  endRemotePlus,
  nodeMissingReason,
  type Sshd,
  SYNC_CLI_REMOTE_USER,
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
    sshd = await startSshd(SYNC_CLI_REMOTE_USER);
    why = nodeMissingReason(sshd);
    if (why) {
      console.warn(`sync CLI tests skipped: ${why}`);
      return;
    }
    endRemotePlus(sshd.user);
    home = await tempHome();
    plus = await startPlus({ home });
    env = plusEnv(home);
    session = sshd.target;
    connectSession(sshd, plus.dataDir, env);
  }, 120_000);

  // A prerequisite found missing in beforeAll skips each test with the reason.
  beforeEach((ctx) => {
    if (why) ctx.skip(why);
  });

  afterAll(async () => {
    if (plus && sshd) runPlus(["ssh", "rm", session, "--data-dir", plus.dataDir], env);
    await plus?.stop();
    if (sshd) endRemotePlus(sshd.user);
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

    // Refused, and nothing made: a session that was never connected.
    const unknown = sync("add", "cli/nosession", "--session", `nobody@127.0.0.1:${sshd.port}`);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /no remote session .*cocalc-plus ssh nobody@127\.0\.0\.1.*ERR_SYNC_NO_SESSION/,
    );
    expect(existsSync(join(sshd.home, "cli/nosession"))).toBe(false);
    expect(sync("list", "--json").stdout).not.toContain("nosession");

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
    expect(existsSync(join(remote, SYNC_TEMP_DIR))).toBe(true);
    expect(sync("rm", list[0]!.pair).stdout).toMatch(/no files were deleted/);
    expect(sync("list").stdout).toMatch(/no sync pairs/);
    expect(existsSync(join(remote, "hello.txt"))).toBe(true);
    // The temp dir of its transfers goes, on both sides; the files stay.
    await until(
      "the temp dirs removed",
      () =>
        !existsSync(join(home, "cli/proj", SYNC_TEMP_DIR)) &&
        !existsSync(join(remote, SYNC_TEMP_DIR)),
    );
    expect(existsSync(join(home, "cli/proj/hello.txt"))).toBe(true);
  });

  it("a mirror pair from the CLI: the remote folder becomes a copy of the local one", async () => {
    expect(sync("add", "cli/m", "--session", session, "--direction", "sideways").code).toBe(2);
    mkdirSync(join(home, "cli/mirror"), { recursive: true });
    writeFileSync(join(home, "cli/mirror/kept.txt"), "local");
    const remote = join(sshd.home, "cli/mirror");
    sshd.asUser(
      `mkdir -p ${remote} && echo theirs > ${remote}/kept.txt && echo x > ${remote}/extra.txt`,
    );
    const added = sync("add", "cli/mirror", "--session", session, "--direction", "to-remote");
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/~\/cli\/mirror → .* \(local → remote \(mirror\)\)/);
    await until(
      "the remote made a copy",
      () =>
        !existsSync(join(remote, "extra.txt")) &&
        readFileSync(join(remote, "kept.txt"), "utf8") === "local",
    );
    expect(sync("list").stdout).toMatch(/local → remote \(mirror\)/);
    const list = JSON.parse(sync("list", "--json").stdout) as { pair: string; local: string }[];
    const pair = list.find((p) => p.local === "cli/mirror")!.pair;
    expect(sync("rm", pair).code).toBe(0);
  });

  it("a dry run says what a pair would copy and delete, and changes nothing", async () => {
    mkdirSync(join(home, "cli/dry/sub"), { recursive: true });
    writeFileSync(join(home, "cli/dry/a.txt"), "aaaa");
    writeFileSync(join(home, "cli/dry/sub/b.txt"), "bb");
    const remote = join(sshd.home, "cli/dry");
    sshd.asUser(`mkdir -p ${remote} && echo theirs > ${remote}/only-remote.txt`);
    const both = sync("add", "cli/dry", "--session", session, "--dry-run");
    expect(both.code, both.stderr).toBe(0);
    expect(both.stdout).toMatch(/dry run: ~\/cli\/dry \(3 entries\) both ways ~\/cli\/dry/);
    expect(both.stdout).toMatch(
      /3 entries copied to the remote, 1 entry copied here; 13 B to move/,
    );
    expect(both.stdout).toMatch(/copy here {2}only-remote.txt/);
    expect(both.stdout).toMatch(/copy to the remote {2}sub\/b.txt/);

    const mirror = sync(
      "add",
      "cli/dry",
      "--session",
      session,
      "--direction",
      "to-remote",
      "--dry-run",
      "--json",
    );
    expect(mirror.code, mirror.stderr).toBe(0);
    const p = JSON.parse(mirror.stdout) as {
      deletes: { remote: number };
      items: { path: string; action: string }[];
    };
    expect(p.deletes.remote).toBe(1);
    expect(p.items).toContainEqual(
      expect.objectContaining({ path: "only-remote.txt", action: "delete" }),
    );
    // Nothing changed, nothing added; bad input is refused as by add.
    expect(existsSync(join(remote, "a.txt"))).toBe(false);
    expect(existsSync(join(home, "cli/dry/only-remote.txt"))).toBe(false);
    expect(sync("list", "--json").stdout).not.toContain("cli/dry");
    const bad = sync("add", "cli/dry", "--session", session, "--ignore", "[x", "--dry-run");
    expect(bad.stderr).toMatch(/ERR_SYNC_IGNORE/);
  });

  it("a conflict from the CLI: listed, settled with sync resolve, refused for a path without one", async () => {
    mkdirSync(join(home, "cli/conf"), { recursive: true });
    writeFileSync(join(home, "cli/conf/both.txt"), "first");
    const remote = join(sshd.home, "cli/conf");
    expect(sync("add", "cli/conf", "--session", session).code).toBe(0);
    await until("the file on the remote", () => existsSync(join(remote, "both.txt")));
    await until("synced", () => sync("list").stdout.includes("all files synced"));
    expect(sync("pause", "cli/conf").code).toBe(0);
    writeFileSync(join(home, "cli/conf/both.txt"), "local edit");
    sshd.asUser(`echo remote edit > ${remote}/both.txt`);
    expect(sync("resume", "cli/conf").code).toBe(0);
    type Listed = { local: string; conflicts: { path: string; keptAs: string }[] };
    const listed = () =>
      (JSON.parse(sync("list", "--json").stdout) as Listed[]).find((p) => p.local === "cli/conf")!;
    await until("the conflict listed", () => listed().conflicts.length === 1);
    const copy = listed().conflicts[0]!.keptAs;
    await until(
      "the copy on both sides",
      () => existsSync(join(remote, copy)) && existsSync(join(home, "cli/conf", copy)),
    );

    // Why was it different: the conflict as decided; now both hold the winner's version.
    const why = sync("status", "cli/conf", "both.txt");
    expect(why.code, why.stderr).toBe(0);
    expect(why.stdout).toMatch(
      /This machine holds a file of 10 B .*; the remote holds a file of 10 B/,
    );
    expect(why.stdout).toMatch(
      /Last decided in cycle \d+ .*: a conflict: this machine's version kept at the path/,
    );
    const json = JSON.parse(sync("status", "cli/conf", "./both.txt", "--json").stdout) as {
      path: string;
      last: { action: string };
    };
    expect(json).toMatchObject({ path: "both.txt", last: { action: "conflict" } });
    expect(sync("status", "cli/nothere", "x").stderr).toMatch(/no sync pair cli\/nothere/);

    expect(sync("resolve", "cli/conf", "both.txt").code).toBe(2);
    const none = sync("resolve", "cli/conf", "other.txt", "--keep", "local");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no conflict at other.txt .*its conflicts: both.txt/);
    // The local one won (the default preference); the remote's version is taken instead.
    const r = sync("resolve", "cli/conf", "both.txt", "--keep", "remote");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/both.txt: the remote version kept/);
    await until(
      "the remote's version on both sides, the copy gone",
      () =>
        readFileSync(join(home, "cli/conf/both.txt"), "utf8") === "remote edit\n" &&
        !existsSync(join(home, "cli/conf", copy)) &&
        !existsSync(join(remote, copy)),
    );
    expect(listed().conflicts).toEqual([]);
    await until("both sides agree again", () =>
      sync("status", "cli/conf", "both.txt").stdout.includes("Both sides agree now"),
    );
    expect(readFileSync(join(remote, "both.txt"), "utf8")).toBe("remote edit\n");
    expect(sync("rm", "cli/conf").code).toBe(0);
  });

  // The next three go in order: one pair of the session, its tunnel stopped, then the session
  // removed.
  const fallback = () => join(sshd.home, "cli/fallback");
  const socket = () =>
    controlPath(sessionControlDir(plus.dataDir), formatTarget(parseTarget(session)));
  const stopTunnel = () => {
    const stopped = runPlus(["ssh", "stop", session, "--data-dir", plus.dataDir], env);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(existsSync(socket()), "the session's ControlMaster socket is gone").toBe(false);
  };

  it("a pair syncs both ways with the session's ssh options while its tunnel is stopped", async () => {
    // The session logs in with --ssh-arg=-F<config>: its key and known_hosts are only there.
    const plain = spawnSync(
      "ssh",
      ["-o", "BatchMode=yes", "-p", String(sshd.port), "-l", sshd.user, "127.0.0.1", "true"],
      { encoding: "utf8", timeout: 30_000 },
    );
    expect(plain.status, "ssh without the session's options should not log in").toBe(255);

    mkdirSync(join(home, "cli/fallback"), { recursive: true });
    writeFileSync(join(home, "cli/fallback/before.txt"), "before");
    const added = sync("add", "cli/fallback", "--session", session);
    expect(added.code, added.stderr).toBe(0);
    const remote = fallback();
    await until("the file on the remote", () => existsSync(join(remote, "before.txt")));

    stopTunnel();
    // Each through an ssh of sync's own that logs in as the session does.
    writeFileSync(join(home, "cli/fallback/while-stopped.txt"), "local");
    await until("the local file on the remote", () =>
      existsSync(join(remote, "while-stopped.txt")),
    );
    sshd.asUser(`echo remote > ${join(remote, "from-remote.txt")}`);
    await until("the remote file here", () =>
      existsSync(join(home, "cli/fallback/from-remote.txt")),
    );
    expect(readFileSync(join(home, "cli/fallback/from-remote.txt"), "utf8")).toBe("remote\n");
    await until("all files synced in the list", () =>
      sync("list").stdout.includes("all files synced"),
    );
  });

  it("a session connected again with another key: its pair logs in with that one", async () => {
    const key2 = join(sshd.dir, "second_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key2]);
    const config2 = join(sshd.dir, "second_ssh_config");
    writeFileSync(
      config2,
      readFileSync(sshd.config, "utf8").replace(`IdentityFile ${sshd.key}`, `IdentityFile ${key2}`),
    );
    const auth = join(sshd.home, ".ssh/authorized_keys");
    appendFileSync(auth, readFileSync(`${key2}.pub`, "utf8"));
    const up = runPlus(
      ["ssh", session, "--no-open", "--data-dir", plus.dataDir, `--ssh-arg=-F${config2}`],
      env,
    );
    expect(up.code, up.stderr).toBe(0);
    // The first key no longer opens the remote: only the session's new options do. (The file
    // is rewritten, not appended to: this user is this file's own, no other test adds a key.)
    const first = readFileSync(`${sshd.key}.pub`, "utf8").trim();
    writeFileSync(
      auth,
      readFileSync(auth, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== first)
        .join("\n"),
    );
    expect(sshd.run("true").code, "the first key is refused").toBe(255);

    stopTunnel();
    writeFileSync(join(home, "cli/fallback/new-key.txt"), "x");
    await until("the file on the remote", () => existsSync(join(fallback(), "new-key.txt")));
  });

  it("removing the session with its ssh closed takes the pair's remote temp dir", async () => {
    const remote = fallback();
    expect(existsSync(socket()), "the tunnel is still stopped").toBe(false);
    expect(existsSync(join(remote, SYNC_TEMP_DIR))).toBe(true);
    const removed = runPlus(["ssh", "rm", session, "--data-dir", plus.dataDir], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(sync("list").stdout).toMatch(/no sync pairs/);
    await until(
      "the temp dirs removed",
      () =>
        !existsSync(join(home, "cli/fallback", SYNC_TEMP_DIR)) &&
        !existsSync(join(remote, SYNC_TEMP_DIR)),
    );
    expect(existsSync(join(remote, "new-key.txt"))).toBe(true);
  });
});
