/**
 * What ssh asks while a person connects (a password, a key's passphrase, a code, an unknown
 * host key), relayed to that person. ssh runs an askpass program for each question
 * (SSH_ASKPASS, with SSH_ASKPASS_REQUIRE=force); ours hands the question to this process over
 * a Unix socket in a 0700 directory of its own, waits for the answer and prints it for ssh.
 * A connect's questions are bound to it by a random token in the askpass program's
 * environment. Answers pass through memory only: never a file, a log, an event or argv.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { lstat, readdir, rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../runtime/logger.js";

/** The askpass program: one question in, the answer out (exit 1: no answer). */
const HELPER = `import { connect } from "node:net";
const prompt = process.argv[2] ?? "";
const kind = process.env.SSH_ASKPASS_PROMPT ?? "";
const s = connect(process.env.COCALC_ASKPASS_SOCKET);
let buf = "";
s.setEncoding("utf8");
s.on("connect", () => s.write(JSON.stringify({ token: process.env.COCALC_ASKPASS_TOKEN, prompt, kind }) + "\\n"));
s.on("data", (d) => {
  buf += d;
  const i = buf.indexOf("\\n");
  if (i < 0) return;
  const a = JSON.parse(buf.slice(0, i));
  s.end();
  if (typeof a.answer !== "string") process.exit(1);
  process.stdout.write(a.answer + "\\n", () => process.exit(0));
});
s.on("error", () => process.exit(1));
`;

/** One question of ssh, as the connecting person sees it. */
export interface AskpassQuestion {
  prompt: string;
  /** ssh's kind: "confirm" (yes/no), "none" (a notice, no answer), or "" (a question). */
  kind: string;
}

const PREFIX = "cocalc-askpass-";
const ABANDONED_AFTER_MS = 60_000;

/**
 * Removes the relay directories of this user that no process serves any more (a plus that
 * was killed leaves its own behind): a real directory, ours, older than a minute, whose socket
 * nobody listens on.
 */
async function removeAbandoned(log: Logger): Promise<void> {
  const uid = process.getuid?.();
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
    // One just made may not listen yet (a plus starting beside this one).
    if (Date.now() - st.mtimeMs < ABANDONED_AFTER_MS) continue;
    const served = await new Promise<boolean>((resolve) => {
      const c = connect(join(dir, "s"));
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", (err: NodeJS.ErrnoException) =>
        resolve(err.code !== "ECONNREFUSED" && err.code !== "ENOENT"),
      );
    });
    if (served) continue;
    await rm(dir, { recursive: true, force: true }).catch((err) =>
      log.warn({ dir, err }, "an abandoned askpass directory was not removed"),
    );
  }
}

type Answerer = (q: AskpassQuestion) => Promise<string | undefined>;

export class AskpassServer {
  private readonly attempts = new Map<string, Answerer>();

  private constructor(
    private readonly dir: string,
    private readonly server: Server,
    private readonly log: Logger,
  ) {}

  /** Starts the relay: its directory (0700), the askpass program, the socket. */
  static async start(log: Logger): Promise<AskpassServer> {
    await removeAbandoned(log);
    const dir = mkdtempSync(join(tmpdir(), PREFIX));
    chmodSync(dir, 0o700);
    writeFileSync(join(dir, "askpass.mjs"), HELPER, { mode: 0o600 });
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    writeFileSync(
      join(dir, "askpass"),
      `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(join(dir, "askpass.mjs"))} "$@"\n`,
      { mode: 0o700 },
    );
    let relay: AskpassServer | undefined;
    const server = createServer((socket) => relay?.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(join(dir, "s"), () => resolve());
    });
    relay = new AskpassServer(dir, server, log);
    return relay;
  }

  /**
   * The environment of one ssh run whose questions `answer` answers; `close` ends it (a
   * question asked afterwards gets no answer).
   */
  attempt(answer: Answerer): { env: Record<string, string>; close(): void } {
    const token = randomBytes(24).toString("base64url");
    this.attempts.set(token, answer);
    return {
      env: {
        SSH_ASKPASS: join(this.dir, "askpass"),
        SSH_ASKPASS_REQUIRE: "force",
        COCALC_ASKPASS_SOCKET: join(this.dir, "s"),
        COCALC_ASKPASS_TOKEN: token,
      },
      close: () => void this.attempts.delete(token),
    };
  }

  private serve(socket: Socket): void {
    let buf = "";
    socket.setEncoding("utf8");
    socket.on("error", () => undefined);
    socket.on("data", (d: string) => {
      buf += d;
      if (buf.length > 16_384) return socket.destroy();
      const i = buf.indexOf("\n");
      if (i < 0) return;
      let q: { token?: unknown; prompt?: unknown; kind?: unknown };
      try {
        q = JSON.parse(buf.slice(0, i));
      } catch {
        return socket.destroy();
      }
      buf = "";
      const answer = typeof q.token === "string" ? this.attempts.get(q.token) : undefined;
      const reply = (a: string | undefined) => socket.end(`${JSON.stringify({ answer: a })}\n`);
      if (!answer || typeof q.prompt !== "string") return reply(undefined);
      const question = { prompt: q.prompt.slice(0, 4000), kind: String(q.kind ?? "") };
      answer(question).then(reply, (err) => {
        this.log.warn({ err }, "an ssh question was not answered");
        reply(undefined);
      });
    });
  }

  async close(): Promise<void> {
    this.attempts.clear();
    await new Promise<void>((r) => this.server.close(() => r()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
