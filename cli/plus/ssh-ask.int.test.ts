/**
 * Interactive ssh sign-in from the CLI, against a real sshd on loopback (a remote user of its
 * own): in a terminal, what ssh asks (a new host key, a key's passphrase) is asked there and
 * the session connects; without a terminal the same connect fails and says why; the answer is
 * in no file of plus and no process's argv.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  inTerminal,
  PLUS_BIN,
  plusCommand as plus,
  plusEnv,
  removeHome,
  tempHome,
} from "../../test/helpers/plus.js";
import {
  ASK_REMOTE_USER,
  askingSshConfig,
  endRemotePlus,
  hostFingerprint,
  nodeMissingReason,
  type Sshd,
  sshdSkipReason,
  startSshd,
} from "../../test/helpers/sshd.js";

let why = sshdSkipReason();
if (why) console.warn(`skipping the interactive ssh sign-in test: ${why}`);

describe.skipIf(why !== undefined)("cocalc-plus ssh: interactive sign-in", () => {
  let sshd: Sshd;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let dataDir: string;

  beforeAll(async () => {
    sshd = await startSshd(ASK_REMOTE_USER);
    why = nodeMissingReason(sshd);
    if (why) {
      console.warn(`skipping the interactive ssh sign-in test: ${why}`);
      return;
    }
    endRemotePlus(sshd.user);
    sshd.asUser('rm -rf "$HOME/.cache/cocalc" "$HOME/.local/share/cocalc-plus"');
    home = await tempHome();
    dataDir = join(home, "data");
    env = plusEnv(home);
  }, 120_000);

  // A prerequisite found missing in beforeAll skips each test with the reason.
  beforeEach((ctx) => {
    if (why) ctx.skip(why);
  });

  afterAll(async () => {
    if (!sshd) return;
    if (dataDir) {
      await plus(["ssh", "rm", sshd.target, "--data-dir", dataDir], env);
      await plus(["stop", "--terminals", "--data-dir", dataDir], env);
    }
    endRemotePlus(sshd.user);
    await sshd.stop();
    if (home) await removeHome(home);
  }, 90_000);

  it("in a terminal, what ssh asks is asked there (a new host key, a key's passphrase); without one it fails in words; the answer is kept nowhere", async () => {
    const passphrase = "open sesame 4711";
    const { config, knownHosts } = askingSshConfig(sshd, "pp", passphrase);
    const base = ["--no-open", "--data-dir", dataDir, `--ssh-arg=-F${config}`];
    // No terminal: ssh may not ask, so the connect fails and says why.
    const batch = await plus(["ssh", sshd.target, ...base], env);
    expect(batch.code).toBe(1);
    expect(batch.stderr).toContain("ERR_REMOTE_HOST_KEY");

    const line = [process.execPath, PLUS_BIN, "ssh", sshd.target, ...base]
      .map((w) => `'${w}'`)
      .join(" ");
    const r = await inTerminal(line, env, [
      [/continue connecting \(yes\/no/, "yes\r"],
      [/Enter passphrase for key/, `${passphrase}\r`],
    ]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain(hostFingerprint(sshd));
    expect(r.stdout).toMatch(/ready: http:\/\/127\.0\.0\.1:\d+/);
    // Typed without echo.
    expect(r.stdout).not.toContain(passphrase);
    expect(readFileSync(knownHosts, "utf8")).toContain("ssh-ed25519");
    // The answer is in no file of plus (events, views, logs) and no process's argv.
    const grep = spawnSync("grep", ["-rlF", passphrase, dataDir], { encoding: "utf8" });
    expect(grep.stdout.trim(), "files holding the passphrase").toBe("");
    expect(grep.status).toBe(1);
    const ps = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
    expect(ps).not.toContain(passphrase);
  }, 150_000);
});
