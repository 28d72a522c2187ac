/**
 * Sign in and reach a running workspace's first answer on the launchpad hub, next to Debian's
 * JupyterHub 3 signing in and reaching its single-user server (jupyterhub.ts).
 *
 * Ours: the hub in this process with its own host (loop btrfs, podman) and one account that
 * owns one workspace of a busybox image. A browser with nothing stored POSTs
 * /api/hub/sign-in (email, password: the accounts service checks an argon2id hash) for its
 * credential, POSTs /api/hub/nats for a JWT for its key (made when the page loaded, before
 * the clock starts, as web/src/lib/page-key.ts does; WebCrypto Ed25519), connects over the hub's
 * /nats WebSocket and asks the workspace's own fs service for its home (`ws.<wsid>.req.fs`,
 * through the hub and the host's leaf node, as the workspace page's Files does first): a
 * process of the running workspace answers, as JupyterHub's user server does.
 *
 * JupyterHub: POST /hub/login, the hub's redirects, the server's OAuth with the hub, then the
 * server's authenticated /user/<name>/api/status. Twice: with PAM (Debian's default: the
 * Linux password's yescrypt hash) and with the DummyAuthenticator (no hash at all).
 *
 * Warm: the workspace and the servers are running before the clock starts (the headline
 * ratio, against PAM). Cold: stopped first; ours then POSTs the dashboard's start before
 * asking for its JWT, JupyterHub spawns on the way (spawn-pending and its progress events).
 * Every login starts with no cookies or credential. Also: sign-in alone with 20 accounts
 * signing in at once, and what one check of each password hash costs.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { wsconnect } from "@nats-io/nats-core";
import { hash as argonHash, verify as argonVerify } from "@node-rs/argon2";
import WS from "ws";
import type { RunningHub } from "../../cli/launchpad/hub.js";
import { type BrowserNatsLogin, HUB_NATS_PATH } from "../../services/gateway/hub-app.js";
import { askHub, HUB_PATHS } from "../../services/gateway/hub-auth.js";
import { HUB_WORKSPACES_PATH } from "../../services/gateway/hub-workspaces.js";
import { NATS_SUBPROTOCOL } from "../../services/gateway/nats-proxy.js";
import { CONSOLE_ACTOR, type HubReply, HubSubjects } from "../../shared/hub.js";
import {
  HubWorkspaceBuckets,
  type HubWorkspaceReply,
  HubWorkspaceSubjects,
  type HubWorkspaceView,
} from "../../shared/hub-workspaces.js";
import type { WorkspaceStatus, WorkspaceView } from "../../shared/launchpad.js";
import { type NatsSocket, NonceSigner, webCryptoNatsKey } from "../../shared/nats-page-key.js";
import { Buckets, hostSubjects, workspaceSubjects } from "../../shared/subjects.js";
import { hostUnsupported, setupHostMachine, startTestHub } from "../helpers/launchpad.js";
import { until } from "../helpers/nats.js";
import {
  findJupyterHub,
  type JupyterHubAuth,
  linuxUser,
  type RunningJupyterHub,
  startJupyterHub,
} from "./jupyterhub.js";
import { median, num, percentile, yesNo } from "./stats.js";

const TARGET = 0.5;
const HOST = "benchlogin";
const EMAIL = "bench@example.com";
const PASSWORD = "a long enough password";
const LINUX_USER = "cocalcbench";
const CONCURRENT = 20;
const PTY_HOST = new URL("../../bundle/pty-host.js", import.meta.url).pathname;

/** The times of one of our logins, in ms from the first request. */
interface OurLogin {
  /** Each step's own ms: sign-in, start (cold), JWT, WebSocket and NATS login, the read. */
  steps: Record<"signIn" | "start" | "jwt" | "connect" | "answer", number>;
  totalMs: number;
}

/** The hub as a browser reaches it. */
interface HubWeb {
  base: string;
  post(path: string, body: unknown, credential?: string): Promise<Response>;
}

function hubWeb(hub: RunningHub): HubWeb {
  const base = hub.url.replace(/\/$/, "");
  return {
    base,
    post: (path, body, credential) =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          origin: base,
          ...(credential && { authorization: `Bearer ${credential}` }),
        },
        body: JSON.stringify(body),
      }),
  };
}

async function signIn(web: HubWeb, email: string): Promise<string> {
  const res = await web.post(HUB_PATHS.signIn, { email, password: PASSWORD });
  const body = (await res.json()) as { credential?: string; message?: string };
  if (res.status !== 200 || !body.credential)
    throw new Error(`sign-in answered ${res.status}: ${body.message}`);
  return body.credential;
}

/** A browser with nothing stored signs in and reads the running workspace's view (see top). */
async function ourLogin(web: HubWeb, wsid: string, start: boolean): Promise<OurLogin> {
  // The page's key is made when the page loads (web/src/lib/page-key.ts), before the person
  // has typed a password: not on the sign-in path.
  const key = await webCryptoNatsKey();
  if (!key) throw new Error("this Node has no WebCrypto Ed25519");
  const signer = new NonceSigner(key);
  const t0 = performance.now();
  let last = t0;
  const lap = () => {
    const now = performance.now();
    const ms = now - last;
    last = now;
    return ms;
  };
  const credential = await signIn(web, EMAIL);
  const signInMs = lap();
  let startMs = 0;
  if (start) {
    const res = await web.post(`${HUB_WORKSPACES_PATH}/${wsid}/start`, {}, credential);
    if (res.status !== 200) throw new Error(`start answered ${res.status}: ${await res.text()}`);
    startMs = lap();
  }
  // What the workspace's page asks: a JWT for that workspace, on its host.
  const res = await web.post(HUB_NATS_PATH, { publicKey: key.publicKey, wsid }, credential);
  if (res.status !== 200) throw new Error(`${HUB_NATS_PATH} answered ${res.status}`);
  const login = (await res.json()) as BrowserNatsLogin & { natsPath: string };
  const hostId = login.memberships.find((m) => m.wsid === wsid)?.hostId;
  if (!hostId) throw new Error(`the JWT does not reach ${wsid} on its host`);
  const jwtMs = lap();
  const nc = await wsconnect({
    servers: `${web.base.replace(/^http/, "ws")}${login.natsPath}`,
    // As the page: the nonce signed by WebCrypto while the wrapped socket holds back INFO.
    authenticator: (nonce) => ({ jwt: login.jwt, ...signer.auth(nonce) }),
    inboxPrefix: login.inboxPrefix,
    reconnect: false,
    name: "hub-login bench",
    // What the page's natsSocket does: the credential as a subprotocol, from the hub's origin.
    wsFactory: async (u) => ({
      socket: signer.wrap(
        new WS(u, [NATS_SUBPROTOCOL, `cocalc.auth.${credential}`], {
          origin: web.base,
        }) as unknown as NatsSocket,
      ) as unknown as WebSocket,
      encrypted: false,
    }),
  });
  const connectMs = lap();
  try {
    // The workspace's own fs service on its host answers (through the hub and the host's
    // leaf node): the first answer of the running workspace.
    const m = await nc.request(
      workspaceSubjects(wsid).request("fs"),
      JSON.stringify({ op: "info" }),
      {
        timeout: 30_000,
      },
    );
    const info = m.json<{ ok: boolean; home?: string; error?: { message: string } }>();
    if (!info.ok) throw new Error(`the workspace's fs service answered ${info.error?.message}`);
    return {
      steps: { signIn: signInMs, start: startMs, jwt: jwtMs, connect: connectMs, answer: lap() },
      totalMs: last - t0,
    };
  } finally {
    await nc.close();
  }
}

/** Each account signs in `rounds` times in a row, all accounts at once: every sign-in's ms. */
async function concurrentSignIns(web: HubWeb, emails: string[], rounds: number) {
  const samples: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    emails.map(async (email) => {
      for (let i = 0; i < rounds; i++) {
        const t = performance.now();
        await signIn(web, email);
        samples.push(performance.now() - t);
      }
    }),
  );
  return { samples, perSecond: samples.length / ((performance.now() - t0) / 1000) };
}

async function argon2VerifyMs(): Promise<number> {
  const h = await argonHash(PASSWORD);
  const ms: number[] = [];
  for (let i = 0; i < 21; i++) {
    const t = performance.now();
    if (!(await argonVerify(h, PASSWORD))) throw new Error("argon2 verify failed");
    ms.push(performance.now() - t);
  }
  return median(ms);
}

interface Side {
  label: string;
  warm: number[];
  warmSignIn: number[];
  cold: number[];
}

export async function hubLoginBench(): Promise<string> {
  const why =
    (await hostUnsupported()) ??
    (existsSync(PTY_HOST) ? undefined : `${PTY_HOST} is missing: run npm run build first`);
  if (why) {
    console.log(`hub-login: skipped: ${why}`);
    return "hub-login: ratio=n/a skipped=yes";
  }
  const install = await findJupyterHub();
  if (typeof install === "string") {
    console.log(`hub-login: skipped: ${install}`);
    return "hub-login: ratio=n/a skipped=yes";
  }
  const quick = process.env.BENCH_QUICK === "1";
  const warmRuns = quick ? 5 : 15;
  const coldRuns = quick ? 2 : 5;
  const rounds = quick ? 3 : 10;

  const undo: (() => Promise<unknown>)[] = [];
  try {
    const m = await setupHostMachine(HOST, 2048);
    undo.push(() => m.cleanup());
    const hub = await startTestHub(join(m.dir, "hub"), {
      localHost: { btrfs: m.root, sizeBytes: 0, hostId: HOST },
    });
    undo.push(() => hub.stop());
    const web = hubWeb(hub);
    const account = async (email: string) =>
      (
        await askHub<HubReply>(
          hub.nc,
          HubSubjects.command,
          "CreateAccount",
          { by: CONSOLE_ACTOR, email, password: PASSWORD, role: "user" },
          "accounts service",
        )
      ).account!.id;
    const ws = (type: string, data: object) =>
      askHub<HubWorkspaceReply>(
        hub.nc,
        HubWorkspaceSubjects.command,
        type,
        data,
        "workspaces service",
        150_000,
      );
    const view = async <T>(bucket: string, key: string) => {
      const e = await (await new Kvm(hub.nc).open(bucket)).get(key);
      return e?.operation === "PUT" && e.length > 0 ? e.json<T>() : undefined;
    };
    const mirrored = (wsid: string, status: WorkspaceStatus) =>
      until(`${wsid} ${status} on the hub's copy`, async () =>
        (await view<WorkspaceView>(Buckets.workspaces, wsid))?.status === status ? true : undefined,
      );

    const owner = await account(EMAIL);
    const imported = await hub.nc.request(
      hostSubjects(HOST).command,
      JSON.stringify({
        type: "ImportImage",
        data: { name: "bb", source: await m.rootfs("hub-login") },
      }),
      { timeout: 120_000 },
    );
    if (!imported.json<{ ok: boolean }>().ok) throw new Error("image import failed");
    await until("the host's image offered", async () =>
      (await ws("HubCreateOptions", { by: owner })).images?.some((i) => i.name === "bb")
        ? true
        : undefined,
    );
    const { wsid } = await ws("CreateHubWorkspace", {
      by: owner,
      title: "bench",
      image: "bb",
      quota: { diskMb: 200, memoryMb: 256 },
    });
    await until("placed", async () =>
      (await view<HubWorkspaceView>(HubWorkspaceBuckets.workspaces, wsid!))?.placement === "placed"
        ? true
        : undefined,
    );
    await mirrored(wsid!, "stopped");
    await ws("StartHubWorkspace", { by: owner, wsid });
    await mirrored(wsid!, "running");
    const others: string[] = [];
    for (let i = 0; i < CONCURRENT; i++) {
      others.push(`user${i}@example.com`);
      await account(others[i]!);
    }

    const user = await linuxUser(LINUX_USER, PASSWORD);
    undo.push(() => user.remove());
    const hubs = new Map<JupyterHubAuth, RunningJupyterHub>();
    for (const auth of ["pam", "dummy"] as const) {
      const dir = join(m.dir, `jupyterhub-${auth}`);
      await mkdir(dir);
      const jh = await startJupyterHub(install, {
        dir,
        auth,
        user: LINUX_USER,
        password: PASSWORD,
      });
      undo.push(() => jh.stop());
      await jh.spawn();
      hubs.set(auth, jh);
    }
    const pam = hubs.get("pam")!;
    const dummy = hubs.get("dummy")!;

    const argonMs = await argon2VerifyMs();
    const shadowMs = await user.verifyMs();
    console.log(`hub-login: ours: cocalc-launchpad hub in this process, its own host (loop btrfs, podman), a busybox workspace
hub-login:   first answer: the workspace's own fs service (ws.<wsid>.req.fs info) on its host, through the hub's /nats with the page's JWT for that workspace
hub-login:   the page's key: WebCrypto Ed25519, made when the page loads (not timed); the server's nonce signed by WebCrypto at connect
hub-login: anchors: ${pam.label}; ${dummy.label}
hub-login:   first answer: the single-user server's /user/${LINUX_USER}/api/status with its OAuth cookie
hub-login: password check: ours argon2id (@node-rs/argon2 defaults m=19456 KiB t=2 p=1) ${num(argonMs, 1)} ms; PAM ${await user.hashMethod()} (crypt) ${num(shadowMs, 1)} ms plus the PAM stack; Dummy: no hash`);

    const ours: Side = { label: "ours", warm: [], warmSignIn: [], cold: [] };
    const ourRuns: { warm: OurLogin[]; cold: OurLogin[] } = { warm: [], cold: [] };
    const jhs: [RunningJupyterHub, Side][] = [
      [pam, { label: "jupyterhub-pam", warm: [], warmSignIn: [], cold: [] }],
      [dummy, { label: "jupyterhub-dummy", warm: [], warmSignIn: [], cold: [] }],
    ];
    // Warm-up, not counted: first requests through each path.
    await ourLogin(web, wsid!, false);
    for (const [jh] of jhs) await jh.login();
    for (let i = 0; i < warmRuns; i++) {
      const o = await ourLogin(web, wsid!, false);
      ourRuns.warm.push(o);
      ours.warm.push(o.totalMs);
      ours.warmSignIn.push(o.steps.signIn);
      for (const [jh, side] of jhs) {
        const j = await jh.login();
        side.warm.push(j.totalMs);
        side.warmSignIn.push(j.signInMs);
      }
    }
    for (let i = 0; i < coldRuns; i++) {
      await ws("StopHubWorkspace", { by: owner, wsid });
      await mirrored(wsid!, "stopped");
      const o = await ourLogin(web, wsid!, true);
      ourRuns.cold.push(o);
      ours.cold.push(o.totalMs);
      for (const [jh, side] of jhs) {
        await jh.stopServer();
        side.cold.push((await jh.login()).totalMs);
      }
    }
    const line = (s: Side) =>
      `${s.label} warm ${num(median(s.warm), 1)} ms (sign-in ${num(median(s.warmSignIn), 1)}), cold ${num(median(s.cold))} ms`;
    console.log(
      `hub-login: medians of ${warmRuns} warm and ${coldRuns} cold runs each, interleaved:`,
    );
    for (const s of [ours, ...jhs.map(([, s]) => s)]) console.log(`hub-login:   ${line(s)}`);
    const steps = (runs: OurLogin[], names: (keyof OurLogin["steps"])[]) =>
      names.map((n) => `${n} ${num(median(runs.map((r) => r.steps[n])), 1)}`).join(", ");
    console.log(
      `hub-login:   ours' steps (medians, ms): warm ${steps(ourRuns.warm, ["signIn", "jwt", "connect", "answer"])}; cold ${steps(ourRuns.cold, ["signIn", "start", "jwt", "connect", "answer"])}`,
    );

    await concurrentSignIns(web, others, 1);
    const c = await concurrentSignIns(web, others, rounds);
    const p50 = percentile(c.samples, 50);
    const p99 = percentile(c.samples, 99);
    console.log(
      `hub-login: sign-in alone, ${CONCURRENT} accounts at once × ${rounds}: p50 ${num(p50, 1)} ms, p99 ${num(p99, 1)} ms over ${c.samples.length} (${num(c.perSecond, 1)} sign-ins/s)`,
    );

    const [p, d] = [jhs[0]![1], jhs[1]![1]];
    const ratio = median(ours.warm) / median(p.warm);
    return [
      `hub-login: ratio=${num(ratio, 2)}`,
      `ratio_dummy=${num(median(ours.warm) / median(d.warm), 2)}`,
      `cold_ratio=${num(median(ours.cold) / median(p.cold), 2)}`,
      `cold_ratio_dummy=${num(median(ours.cold) / median(d.cold), 2)}`,
      `headline=warm_vs_pam`,
      `ours_warm_ms=${num(median(ours.warm), 1)}`,
      `jh_pam_warm_ms=${num(median(p.warm), 1)}`,
      `jh_dummy_warm_ms=${num(median(d.warm), 1)}`,
      `ours_cold_ms=${num(median(ours.cold))}`,
      `jh_pam_cold_ms=${num(median(p.cold))}`,
      `jh_dummy_cold_ms=${num(median(d.cold))}`,
      `ours_signin_ms=${num(median(ours.warmSignIn), 1)}`,
      `jh_pam_signin_ms=${num(median(p.warmSignIn), 1)}`,
      `jh_dummy_signin_ms=${num(median(d.warmSignIn), 1)}`,
      `concurrent_signin_p50_ms=${num(p50, 1)}`,
      `concurrent_signin_p99_ms=${num(p99, 1)}`,
      `concurrent_users=${CONCURRENT}`,
      `argon2id_verify_ms=${num(argonMs, 1)}`,
      `yescrypt_verify_ms=${num(shadowMs, 1)}`,
      `target_met=${yesNo(ratio <= TARGET)}`,
      `warm_runs=${warmRuns}`,
      `cold_runs=${coldRuns}`,
    ].join(" ");
  } finally {
    for (const u of undo.reverse()) await u().catch((err) => console.error(err));
  }
}
