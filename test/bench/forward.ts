/**
 * Port forwards of a remote session: from the AddForward command (as the page sends it) to the
 * first answer through the port, requests through a maintained forward, and from a kill -9 of
 * its ssh to serving again; `cocalc-plus forward add` (a Node process of its own) is timed
 * beside. Anchor: the same by hand, `ssh -N -L` to the first answer and requests through it.
 * Uses a real sshd on loopback and a second local user as the remote (needs root).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { secretsFile } from "../../cli/common/secrets.js";
import { runInfoFile } from "../../cli/plus/server.js";
import { connectServices } from "../../services/runtime/connect.js";
import { freePort } from "../../services/runtime/ports.js";
import type { ForwardView } from "../../shared/forwards.js";
import { ServiceNames, workspaceSubjects } from "../../shared/subjects.js";
import { nodeMissingReason, sshdSkipReason, startSshd } from "../helpers/sshd.js";
import { median, num, sleep } from "./stats.js";

const RUNS = 3;
const REQUESTS = 200;
const TARGET = 1.5;
const PLUS_CLI = fileURLToPath(new URL("../../bundle/plus.js", import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PLUS_CLI, ...args], { env, stdio: "pipe" });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.once("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`cocalc-plus ${args[0]} failed:\n${out}`)),
    );
  });
}

async function answers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
    return (await res.text()) === "ok";
  } catch {
    return false;
  }
}

async function untilAnswers(port: number, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await answers(port))) {
    if (Date.now() > end) throw new Error(`nothing answers on ${port}`);
    await sleep(10);
  }
}

async function requests(port: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    await res.text();
  }
  return performance.now() - t0;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function forwardBench(): Promise<string> {
  const skip = sshdSkipReason();
  if (skip) {
    console.log(`forward: skipped (${skip})`);
    return "forward: skipped";
  }
  const sshd = await startSshd("cocalcbenchfwd");
  const noNode = nodeMissingReason(sshd);
  if (noNode) {
    await sshd.stop();
    console.log(`forward: skipped (${noNode})`);
    return "forward: skipped";
  }
  const home = await mkdtemp(join(tmpdir(), "cocalc-bench-fwd-"));
  const env = { ...process.env, HOME: home, XDG_DATA_HOME: join(home, ".local/share") };
  const dataDir = join(home, "data");
  const remotePort = await freePort();
  const add: number[] = [];
  const cli: number[] = [];
  const anchorAdd: number[] = [];
  const reqs: number[] = [];
  const anchorReqs: number[] = [];
  const recover: number[] = [];
  try {
    sshd.asUser(
      `cd /tmp && nohup node -e 'require("http").createServer((q, s) => s.end("ok")).listen(${remotePort}, "127.0.0.1")' >/dev/null 2>&1 &`,
    );
    while (!(await listening(remotePort))) await sleep(50);
    await run(["ssh", sshd.target, "--no-open", "--data-dir", dataDir, ...sshd.sshArgs], env);
    const info = JSON.parse(await readFile(runInfoFile(dataDir), "utf8")) as {
      natsUrl: string;
      wsid: string;
    };
    const { servicesSeed } = JSON.parse(await readFile(secretsFile(dataDir), "utf8")) as {
      servicesSeed: string;
    };
    const nc = await connectServices({ url: info.natsUrl, seed: servicesSeed }, "bench forward");
    const command = workspaceSubjects(info.wsid).command(ServiceNames.forwards);
    for (let i = 0; i < RUNS; i++) {
      // Anchor: a hand-run ssh -L with the same options, to its first answer.
      const a = await freePort();
      let t0 = performance.now();
      const ssh: ChildProcess = spawn(
        "ssh",
        [
          "-F",
          sshd.config,
          "-p",
          String(sshd.port),
          "-N",
          "-o",
          "ExitOnForwardFailure=yes",
          "-L",
          `127.0.0.1:${a}:127.0.0.1:${remotePort}`,
          `${sshd.user}@127.0.0.1`,
        ],
        { stdio: "ignore" },
      );
      await untilAnswers(a);
      anchorAdd.push(performance.now() - t0);
      anchorReqs.push(await requests(a));
      ssh.kill("SIGTERM");

      // The maintained forward.
      const l = await freePort();
      t0 = performance.now();
      const reply = (
        await nc.request(
          command,
          JSON.stringify({
            type: "AddForward",
            data: { session: sshd.target, local: l, remote: remotePort },
          }),
          { timeout: 30_000 },
        )
      ).json<{ ok: boolean }>();
      if (!reply.ok) throw new Error(`AddForward failed: ${JSON.stringify(reply)}`);
      await untilAnswers(l);
      add.push(performance.now() - t0);
      console.log(
        `  run ${i + 1}: anchor ${num(anchorAdd[i]!)} ms, AddForward ${num(add[i]!)} ms to the first answer`,
      );
      reqs.push(await requests(l));
      const list = JSON.parse(
        await run(["forward", "list", "--json", "--data-dir", dataDir], env),
      ) as ForwardView[];
      const pid = list.find((f) => f.local === l)?.pid;
      if (pid === undefined) throw new Error("the forward has no pid");
      t0 = performance.now();
      process.kill(pid, "SIGKILL");
      while (await listening(l)) await sleep(5);
      await untilAnswers(l);
      recover.push(performance.now() - t0);
      await run(["forward", "rm", String(l), "--data-dir", dataDir], env);
      // The CLI: the same, plus starting a Node process and connecting.
      const c = await freePort();
      t0 = performance.now();
      await run(
        [
          "forward",
          "add",
          String(c),
          String(remotePort),
          "--session",
          sshd.target,
          "--data-dir",
          dataDir,
        ],
        env,
      );
      await untilAnswers(c);
      cli.push(performance.now() - t0);
      await run(["forward", "rm", String(c), "--data-dir", dataDir], env);
    }
    await nc.close();
  } finally {
    await run(["ssh", "rm", sshd.target, "--data-dir", dataDir], env).catch(() => "");
    await run(["stop", "--terminals", "--data-dir", dataDir], env).catch(() => "");
    try {
      execFileSync("pkill", ["-u", sshd.user, "-f", "plus.js|nats-server|pty-host|node -e"]);
    } catch {
      // none left
    }
    await sshd.stop();
    await rm(home, { recursive: true, force: true });
  }
  const ratio = median(add) / median(anchorAdd);
  const reqRatio = median(reqs) / median(anchorReqs);
  console.log(`  anchor: ssh -N -L to first answer:        ${num(median(anchorAdd))} ms`);
  console.log(`  AddForward to first answer:               ${num(median(add))} ms`);
  console.log(`  cocalc-plus forward add to first answer:  ${num(median(cli))} ms`);
  console.log(
    `  ${REQUESTS} requests, anchor / forward:          ${num(median(anchorReqs))} / ${num(median(reqs))} ms`,
  );
  console.log(
    `  kill -9 of its ssh to serving again:      ${num(median(recover))} ms (1 s of it is the first backoff)`,
  );
  return `forward: ratio=${ratio.toFixed(2)} target<=${TARGET} met=${ratio <= TARGET ? "yes" : "no"} add_ms=${num(median(add))} cli_ms=${num(median(cli))} anchor_ms=${num(median(anchorAdd))} requests_ratio=${reqRatio.toFixed(2)} recover_ms=${num(median(recover))}`;
}
