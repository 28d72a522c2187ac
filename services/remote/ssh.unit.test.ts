import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hostKeyFailure, readHostKeyReport, SshClient, sshFailure } from "./ssh.js";

// What OpenSSH 9.2 prints, as captured from a real sshd on loopback.
const CHANGED = `@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:oeE1H7cJH3MWpIUM74FnVC5EzII5LORLjMCK98+4TBE.
Please contact your system administrator.
Add correct host key in /tmp/hk/kh2 to get rid of this message.
Offending ED25519 key in /tmp/hk/kh2:1
  remove with:
  ssh-keygen -f "/tmp/hk/kh2" -R "[127.0.0.1]:22789"
Host key for [127.0.0.1]:22789 has changed and you have requested strict checking.
Host key verification failed.`;

const VERBOSE = `debug1: kex: host key algorithm: ssh-ed25519
debug1: Server host key: ssh-rsa SHA256:jumpjumpjump
debug1: Server host key: ssh-ed25519 SHA256:oeE1H7cJH3MWpIUM74FnVC5EzII5LORLjMCK98+4TBE
Host key verification failed.`;

describe("ssh failures", () => {
  it("a changed host key: the new fingerprint, the old key's place and ssh's own removal", () => {
    const r = readHostKeyReport(CHANGED);
    expect(r).toEqual({
      changed: true,
      keyType: "ED25519",
      fingerprint: "SHA256:oeE1H7cJH3MWpIUM74FnVC5EzII5LORLjMCK98+4TBE",
      offending: "/tmp/hk/kh2:1",
      removeCommand: 'ssh-keygen -f "/tmp/hk/kh2" -R "[127.0.0.1]:22789"',
      host: "[127.0.0.1]:22789",
    });
    const err = hostKeyFailure("cannot connect to a@h", r, {
      host: "[127.0.0.1]:22789",
      accept: "ssh -p 22789 a@127.0.0.1 true",
      sshOutput: CHANGED,
    });
    expect(err.code).toBe("ERR_REMOTE_HOST_KEY");
    expect(err.message).toContain("has changed: it is now the ED25519 key SHA256:oeE1H7");
    expect(err.message).toContain('`ssh-keygen -f "/tmp/hk/kh2" -R "[127.0.0.1]:22789"`');
    expect(err.details).toMatchObject({ fingerprint: r.fingerprint });
  });

  it("an unknown host key: the fingerprint of the last key -v shows (after a jump host's)", () => {
    const r = readHostKeyReport("Host key verification failed.", VERBOSE);
    expect(r).toMatchObject({
      changed: false,
      keyType: "ED25519",
      fingerprint: "SHA256:oeE1H7cJH3MWpIUM74FnVC5EzII5LORLjMCK98+4TBE",
    });
    const err = hostKeyFailure("cannot connect to a@h", r, {
      host: "h",
      accept: "ssh a@h true",
      proxyJump: "j@jump",
      sshOutput: "",
    });
    expect(err.message).toMatch(/the host key of h \(or of the jump host j@jump\) is unknown/);
    expect(err.message).toContain("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
    expect(err.message).toContain("connecting once in a terminal with `ssh a@h true`");
  });

  it("a full disk is said first, whatever else the output says", () => {
    const out =
      "tar: dist/bundle/plus.js: Cannot write: No space left on device\nConnection closed";
    const err = sshFailure("copying cocalc-plus to the remote failed", {
      code: 2,
      stderr: out,
      stdout: "",
    });
    expect(err.code).toBe("ERR_REMOTE_DISK_FULL");
    expect(err.message).toMatch(
      /^the remote's disk is full \(No space left on device\): copying cocalc-plus/,
    );
    const quota = sshFailure("x", { code: 1, stderr: "write: Disk quota exceeded", stdout: "" });
    expect(quota.message).toMatch(/^the remote's disk quota is used up/);
  });
});

describe("the ssh command of another program", () => {
  it("has the session's own options and control socket, and ends before the host", () => {
    const dir = mkdtempSync(join(tmpdir(), "cocalc-ssh-unit-"));
    try {
      const ssh = new SshClient({
        target: { user: "ann", host: "example.org", port: 2222 },
        label: "ann@example.org:2222",
        options: {
          sshArgs: ["-oUserKnownHostsFile=/k/hosts"],
          identity: "/k/id_ed25519",
          proxyJump: "j@jump",
        },
        controlDir: dir,
      });
      const argv = ssh.commandWithoutHost();
      expect(argv[0]).toBe("ssh");
      // The person's own first: ssh uses the first value it sees.
      expect(argv.slice(1, 8)).toEqual([
        "-oUserKnownHostsFile=/k/hosts",
        "-i",
        "/k/id_ed25519",
        "-J",
        "j@jump",
        "-p",
        "2222",
      ]);
      expect(argv.join(" ")).toContain(`-S ${ssh.socket} -o ControlMaster=no --`);
      expect(argv.at(-1)).toBe("--");
      expect(argv).not.toContain("example.org");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
