/**
 * The hub's SSH server into workspaces (ssh2: the protocol is the library's, never ours):
 * `ssh -p <hub port + 1> <wsid>@<hub>` (or `<name>+<wsid>@…`). A client is let in by public
 * key only: one of the keys of an active account that owns or collaborates on the workspace
 * (ssh2 checks the signature against the stored key; viewers, other accounts' keys, disabled
 * accounts are refused). Then each session channel is a command in the workspace's container
 * as the workspace user on its host, its bytes over a byte pipe (services/runtime/byte-pipe.ts,
 * the host side in services/host/pipe-exec.ts): a shell (with a pty when asked), an exec (its
 * exit code carried back; scp and rsync are execs of themselves in the container), the sftp
 * subsystem (the image's own sftp-server), and `-L` forwards (direct-tcpip) to a port on the
 * container's network. Agent and X11 forwarding, and `-R`, are refused.
 */
import { readFile } from "node:fs/promises";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { AuthContext, Connection, PseudoTtyInfo, ServerChannel } from "ssh2";
import ssh2 from "ssh2";
import { toErrorPayload } from "../../shared/errors.js";
import { type AccountView, HubBuckets, HubSubjects } from "../../shared/hub.js";
import { wsidOfSshUser } from "../../shared/hub-ssh.js";
import { HubWorkspaceBuckets, type HubWorkspaceView } from "../../shared/hub-workspaces.js";
import type { PipeExecControl } from "../../shared/launchpad-exec.js";
import type { BytePipe } from "../runtime/byte-pipe.js";
import type { Logger } from "../runtime/logger.js";
import { writeSecretFile } from "../runtime/secret-file.js";
import { runningService, type ServiceDefinition } from "../runtime/service.js";
import { openWorkspacePipe } from "../runtime/workspace-pipe.js";
import { PrivateStore } from "./private-store.js";
import { followMemberships } from "./workspaces.js";

// ssh2 is CommonJS: its parts come off the default export under Node's ESM.
const { Server, utils } = ssh2;

export const HUB_SSH_SERVICE = "hub-ssh";

/** What a shell runs: the user's login shell in their home, as sshd would. */
const LOGIN_SHELL = [
  "/bin/sh",
  "-c",
  'cd; for s in /bin/bash /bin/sh; do [ -x "$s" ] && exec "$s" -l; done',
];
/** sftp: the image's own sftp-server (OpenSSH's), wherever its distribution puts it. */
const SFTP_SERVER = [
  "/bin/sh",
  "-c",
  'cd; for s in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server /usr/libexec/sftp-server; do [ -x "$s" ] && exec "$s"; done; echo "this workspace image has no sftp-server (install openssh-sftp-server)" >&2; exit 127',
];
/** An exec, as sshd runs it: the command line by a shell, in the user's home. */
const execArgv = (command: string) => ["/bin/sh", "-c", `cd 2>/dev/null; ${command}`];

/** The hub's SSH host key (ed25519, OpenSSH's format), made once into `file` (0600). */
export async function sshHostKey(file: string): Promise<string> {
  const kept = await readFile(file, "utf8").catch(() => undefined);
  if (kept) return kept;
  const made = utils.generateKeyPairSync("ed25519", { comment: "cocalc-launchpad hub" });
  await writeSecretFile(file, made.private);
  await writeSecretFile(`${file}.pub`, `${made.public}\n`);
  return made.private;
}

export interface HubSshOptions {
  host: string;
  port: number;
  /** The host key's file (made when missing). */
  hostKeyFile: string;
  /** The address the server is listening on, once it is. */
  onListening?(address: { address: string; port: number }): void;
}

interface Who {
  account: string;
  wsid: string;
}

export function hubSshService(o: HubSshOptions): ServiceDefinition {
  return {
    name: HUB_SSH_SERVICE,
    durables: [],
    async start(ctx) {
      const log = ctx.log;
      const store = await PrivateStore.open(ctx.kvm, ctx.jsm);
      const workspaces: KV = await ctx.kvm.open(HubWorkspaceBuckets.workspaces);
      const accounts: KV = await ctx.kvm.open(HubBuckets.accounts);
      const workspace = async (wsid: string) => {
        const e = await workspaces.get(wsid).catch(() => null);
        return e?.operation === "PUT" && e.length > 0 ? e.json<HubWorkspaceView>() : undefined;
      };
      const active = async (account: string) => {
        const e = await accounts.get(account).catch(() => null);
        return e?.operation === "PUT" && e.length > 0 && e.json<AccountView>().status === "active";
      };

      /** The member (owner or collaborator, active) whose key this is, if any. */
      const memberOfKey = async (a: AuthContext & { method: "publickey" }, wsid: string) => {
        const w = await workspace(wsid);
        if (!w) return undefined;
        const wire = a.key.data.toString("base64");
        for (const [account, role] of Object.entries(w.members)) {
          const key = (await store.sshKeys(account)).find((k) => k.data === wire);
          if (!key) continue;
          if (role !== "owner" && role !== "collaborator") {
            log.info({ account, wsid, role }, "ssh: a viewer's key refused");
            continue;
          }
          if (!(await active(account))) {
            log.info({ account, wsid }, "ssh: an inactive account's key refused");
            continue;
          }
          if (a.signature) {
            const parsed = utils.parseKey(Buffer.from(`${key.type} ${key.data}`));
            if (parsed instanceof Error || parsed.verify(a.blob!, a.signature, a.hashAlgo) !== true)
              continue;
          }
          return { account, wsid };
        }
        return undefined;
      };

      const clients = new Set<Connection>();
      /** Signed-in clients by `account.wsid`: ended when the account may no longer write there. */
      const signedIn = new Map<string, Set<Connection>>();
      const recheck = (account: string, wsid: string) => {
        const these = signedIn.get(`${account}.${wsid}`);
        if (!these || these.size === 0) return;
        void (async () => {
          const role = (await workspace(wsid))?.members[account];
          if ((role === "owner" || role === "collaborator") && (await active(account))) return;
          log.info({ account, wsid, role }, "ssh: access gone, sessions ended");
          for (const c of these) c.end();
        })().catch((err) => log.warn({ err, account, wsid }, "ssh: access not rechecked"));
      };
      const stopMemberships = await followMemberships(ctx.nc, recheck);
      // A disabled or deleted account's sessions end too (every account event reaches here).
      const accountEvents = ctx.nc.subscribe(HubSubjects.accounts, {
        callback: (err, m) => {
          if (err) return;
          const account = m.subject.split(".")[2];
          let type: string | undefined;
          try {
            type = m.json<{ type?: string }>().type;
          } catch {
            return;
          }
          if (!account || (type !== "AccountDisabled" && type !== "AccountDeleted")) return;
          // The event, not the view (which follows it): its sessions end now.
          for (const [key, these] of signedIn)
            if (key.startsWith(`${account}.`)) {
              log.info({ account, type }, "ssh: account closed, sessions ended");
              for (const c of these) c.end();
            }
        },
      });
      const server = new Server(
        { hostKeys: [await sshHostKey(o.hostKeyFile)], ident: "cocalc-launchpad" },
        (client, info) => {
          clients.add(client);
          const clog = log.child({ ip: info.ip });
          let who: Who | undefined;
          client.on("error", (err) => clog.info({ err }, "ssh: client error"));
          client.on("close", () => clients.delete(client));
          client.on("authentication", (a) => {
            if (a.method !== "publickey") {
              a.reject(["publickey"]);
              return;
            }
            const wsid = wsidOfSshUser(a.username);
            if (!wsid) {
              a.reject(["publickey"]);
              return;
            }
            memberOfKey(a, wsid).then(
              (w) => {
                if (!w) return a.reject(["publickey"]);
                if (a.signature) {
                  who = w;
                  const key = `${w.account}.${wsid}`;
                  const set = signedIn.get(key) ?? new Set();
                  set.add(client);
                  signedIn.set(key, set);
                  client.once("close", () => {
                    set.delete(client);
                    if (set.size === 0) signedIn.delete(key);
                  });
                  clog.info({ account: w.account, wsid }, "ssh: signed in");
                }
                a.accept();
              },
              (err) => {
                clog.warn({ err }, "ssh: authentication failed");
                a.reject(["publickey"]);
              },
            );
          });
          client.on("ready", () => {
            if (!who) {
              client.end();
              return;
            }
            const me = who;
            client.on("session", (acceptSession) => {
              const session = acceptSession();
              let pty: PseudoTtyInfo | undefined;
              let running: BytePipe | undefined;
              session.on("pty", (accept, _reject, i) => {
                pty = i;
                accept?.();
              });
              session.on("window-change", (accept, _reject, i) => {
                if (pty) pty = { ...pty, cols: i.cols, rows: i.rows };
                running?.control({ cols: i.cols, rows: i.rows });
                accept?.();
              });
              session.on("env", (accept) => accept?.());
              // Off: a workspace's processes never reach the user's agent or display.
              session.on("auth-agent", (_accept, reject) => reject?.());
              session.on("x11", (_accept, reject) => reject?.());
              session.on("signal", (accept) => accept?.());
              const run = (channel: ServerChannel, argv: string[], tty: boolean) => {
                void openPipe(ctx.nc, me, workspace, {
                  kind: "exec",
                  argv,
                  ...(tty &&
                    pty && {
                      tty: true,
                      cols: Math.max(1, pty.cols),
                      rows: Math.max(1, pty.rows),
                      ...(/^[-_.+A-Za-z0-9]{1,64}$/.test(pty.term) && { term: pty.term }),
                    }),
                }).then(
                  (pipe) => {
                    running = pipe;
                    joinChannel(channel, pipe, clog);
                  },
                  (err) => refuse(channel, err),
                );
              };
              session.on("shell", (accept) => run(accept(), LOGIN_SHELL, pty !== undefined));
              session.on("exec", (accept, _reject, i) =>
                run(accept(), execArgv(i.command), pty !== undefined),
              );
              session.on("subsystem", (accept, reject, i) => {
                if (i.name !== "sftp") return reject();
                run(accept(), SFTP_SERVER, false);
              });
            });
            // -L: a port on the container's network.
            client.on("tcpip", (accept, reject, i) => {
              void openPipe(ctx.nc, me, workspace, {
                kind: "tcp",
                host: i.destIP === "localhost" ? "127.0.0.1" : i.destIP,
                port: i.destPort,
              }).then(
                (pipe) => {
                  const channel = accept();
                  channel.on("error", () => undefined);
                  channel.pipe(pipe);
                  pipe.pipe(channel);
                  pipe.on("error", () => channel.destroy());
                  channel.on("close", () => pipe.destroy());
                },
                (err) => {
                  clog.info({ err, port: i.destPort }, "ssh: forward refused");
                  reject();
                },
              );
            });
            // -R: refused (nothing listens on the hub for a workspace).
            client.on("request", (_accept, reject) => reject?.());
          });
        },
      );
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(o.port, o.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const address = server.address() as { address: string; port: number };
      log.info({ port: address.port, host: address.address }, "ssh: listening");
      o.onListening?.(address);
      let closed!: () => void;
      const done = new Promise<void>((r) => {
        closed = r;
      });
      server.on("close", () => closed());
      return runningService(
        [
          {
            done,
            async stop() {
              await new Promise<void>((r) => {
                server.close(() => r());
                for (const c of clients) c.end();
              });
            },
          },
        ],
        async () => {
          accountEvents.unsubscribe();
          await stopMemberships();
        },
      );
    },
  };
}

/** Opens a pipe to the workspace's host now (it may have moved since the client signed in). */
async function openPipe(
  nc: NatsConnection,
  who: Who,
  workspace: (wsid: string) => Promise<HubWorkspaceView | undefined>,
  data: Record<string, unknown>,
): Promise<BytePipe> {
  return openWorkspacePipe(nc, who.wsid, (await workspace(who.wsid))?.hostId, data);
}

/** A session channel and its command's pipe: bytes both ways, stderr, the exit code. */
function joinChannel(channel: ServerChannel, pipe: BytePipe, log: Logger) {
  let exit: number | undefined;
  pipe.on("control", (c: PipeExecControl) => {
    if ("err" in c) channel.stderr.write(Buffer.from(c.err, "base64"));
    else if ("exit" in c) exit = c.exit.code;
  });
  channel.pipe(pipe);
  pipe.pipe(channel, { end: false });
  pipe.on("end", () => {
    channel.exit(exit ?? 255);
    channel.end();
  });
  pipe.on("error", (err) => {
    log.info({ err }, "ssh: the workspace's side ended");
    refuse(channel, err);
  });
  channel.on("error", () => undefined);
  channel.on("close", () => {
    if (!pipe.writableFinished || !pipe.readableEnded) pipe.destroy();
  });
}

/** Tells the client why, on stderr, and ends the channel. */
function refuse(channel: ServerChannel, err: unknown) {
  const e = toErrorPayload(err);
  try {
    channel.stderr.write(`cocalc-launchpad: ${e.message}\n`);
    channel.exit(255);
    channel.end();
  } catch {
    // the client is gone
  }
}
