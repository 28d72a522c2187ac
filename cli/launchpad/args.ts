/** Command-line parsing for cocalc-launchpad. Bad input is a UsageError (exit code 2). */
import { isIP } from "node:net";
import { homedir, hostname } from "node:os";
import { join, resolve } from "node:path";
import { parseOptions as parse, UsageError } from "../common/usage.js";

export const LAUNCHPAD_HELP = `cocalc-launchpad — run many workspaces on one machine, in containers on btrfs.

Usage:
  cocalc-launchpad [hub] [--port 8443] [--bind 127.0.0.1] [--public-url URL] [--allow-host NAME]
                   [--trust-proxy ADDR] [--cert FILE --key FILE] [--no-local-host | --btrfs DIR | --btrfs-image FILE
                   [--size 20G]] [--host-id ID] [--no-first-image] [--images DIR] [--offline-after 15s]
                   [--session-idle 30d] [--session-lifetime 90d] [--apps-domain DOMAIN]
      start the hub people sign in to (http://127.0.0.1:8443/); the first run prints a
      one-time setup link that makes the first admin. HTTP on loopback; bound elsewhere,
      HTTPS with --cert/--key or a self-signed certificate made once in the data dir (its
      SHA-256 fingerprint is printed). Hosts join it: leaf nodes on port + 2, token
      exchange on port + 3. As root on a machine with podman it also runs a host joined to
      itself, on --btrfs DIR or --btrfs-image FILE (default DATA_DIR/local-host/btrfs.img,
      --size 20G, sparse), with id --host-id (default from the host name); --no-local-host:
      none. A local host with no image gets one: image base, built with debootstrap
      (deploy/images/build-image.sh, a few minutes, its steps printed) into the images
      directory and imported; --no-first-image: not. --images: rootfs directories DIR/NAME
      (default DATA_DIR/images; readable by every host) imported on a host before a
      workspace of image NAME is placed there. --offline-after: a host not heard this long is offline.
      --session-idle: a browser not used this long is signed out; --session-lifetime: a
      browser is signed out this long after it signed in, used or not. --apps-domain: a
      workspace's app on port N is served at p<N>-<wsid>.DOMAIN on the hub's port, an origin
      of its own (wildcard DNS *.DOMAIN to the hub; its certificate covers it); default
      localhost on loopback (browsers resolve *.localhost), else no apps. --trust-proxy ADDR
      (an address or CIDR range, repeatable): a reverse proxy in front, whose
      X-Forwarded-For is the client's address (what sign-in slows guessing by)
  cocalc-launchpad hub account list|create|disable|enable|admin|user|delete [EMAIL] [--admin]
      the hub's accounts, for the operator at the console (the hub must be running; create
      reads the password from stdin, --admin makes an admin)
  cocalc-launchpad hub account ssh-key add EMAIL NAME [--file KEY.pub] | list EMAIL | remove EMAIL NAME
      an account's SSH public keys (add reads the key from stdin without --file); with one,
      ssh -p <hub port + 1> WSID@HUB opens a shell in a workspace the account owns or
      collaborates on (exec, sftp, scp, rsync and -L work too)
  cocalc-launchpad hub account reset EMAIL [--ttl 1h]
      a one-time link that sets a new password for EMAIL (valid --ttl, at most 7d); using
      it signs out that account's browsers. Also: cocalc-launchpad account reset EMAIL
  cocalc-launchpad hub token HOSTID --out FILE [--ttl 1h]
      a one-time registration token for a host, written to FILE (0600); the host joins
      with \`cocalc-launchpad host --join FILE …\` (its earlier unused tokens are revoked)
  cocalc-launchpad hub token list
      every registration token: host, status (issued, joined, revoked, expired), times
  cocalc-launchpad hub token revoke TOKENID
      an unused token can no longer join; a used one: its host is cut off
  cocalc-launchpad host (--btrfs DIR | --btrfs-image FILE [--size 20G]) [options]
      start a host: its own nats-server (or --nats URL), the host service and the views
  cocalc-launchpad workspace create WSID --image NAME [--account ID] [--host ID] [--disk-mb N] [--memory-mb N] [--cpus N] [--pids N] [--user-namespaces] [--network none|default]
                         (--host: on a hub, the host to place it on; default
                         the ready host with the fewest workspaces; --user-namespaces:
                         processes inside may make user namespaces, blocked by default;
                         --network none: only loopback inside; default: the host's network)
  cocalc-launchpad workspace start|stop|delete WSID
  cocalc-launchpad workspace snapshot WSID NAME        read-only snapshot of the home
  cocalc-launchpad workspace snapshots WSID [--json]  the snapshots, newest first: name, time
                         taken, exclusive size (what deleting it frees) and referenced size
  cocalc-launchpad workspace snapshot-delete WSID NAME
  cocalc-launchpad workspace restore WSID NAME         (the workspace must be stopped)
  cocalc-launchpad workspace image WSID NAME           change the image (stopped workspaces)
  cocalc-launchpad workspace quota WSID [--disk-mb N] [--memory-mb N] [--cpus N] [--pids N]
                         change limits; a running workspace's memory, cpus and pids at once
  cocalc-launchpad workspace exec WSID [-i] [-t] [--root] [--timeout SECONDS] -- COMMAND [ARG…]
                         output streams as it comes; the exit code is the command's;
                         -i: send stdin; -t: a terminal (resizes follow this one);
                         --timeout: kill it after SECONDS (default none with -t, 3600
                         without; 0 = none); what it started ends with it, and when
                         this client goes away (15 s unheard)
  cocalc-launchpad workspace shell WSID [--root]     a login shell (exec -it)
  cocalc-launchpad workspace list
  cocalc-launchpad image import NAME DIR [--description TEXT] [--host ID]
                         a rootfs directory (see deploy/images), its progress printed;
                         --host on a hub
  cocalc-launchpad image list
  cocalc-launchpad account cores ACCOUNT N|none      the account's cores quota: its running
                                                     workspaces' cpus together (none = no limit)
  cocalc-launchpad account list
  cocalc-launchpad hosts list                        hosts: status (ready, stopped, offline;
                                                     draining), workspaces, disk, last heard
  cocalc-launchpad hosts drain|undrain HOSTID        on a hub: a drained host takes no new
                                                     workspaces (those on it keep running
                                                     until stopped); undrain takes it back

Host options:
  --btrfs DIR            a mounted btrfs file system for images and workspaces
  --btrfs-image FILE     a file holding a btrfs (created with --size if missing), loop-mounted
                         under the data dir while the host runs
  --size SIZE            size of a new --btrfs-image, e.g. 20G (default 20G)
  --nats URL             use this nats-server instead of starting one
  --nats-seed-file FILE  the services user's nkey seed for --nats (a 0600 file)
  --join FILE            join a hub with the registration token in FILE (once;
                         the leaf node credentials it gives are kept in the data dir)
  --host-id ID           the host's id (default: from the host name)
  --network NAME         the network of workspaces: default (podman's default bridge:
                         outbound access, e.g. git clone, pip, agents' APIs), none (only
                         loopback), or a podman network name; a workspace created with
                         --network none has only loopback either way
  --cpus N               cores the host gives its running workspaces together (default:
                         the machine's); a hub places by what is free
  --memory-mb N          memory the host gives its running workspaces together (default:
                         the machine's)
  --keep-workspaces      on stop, leave the workspaces running (e.g. for an upgrade): the
                         restarted host adopts them; without it a stop stops them
  --snapshot-every MIN   scheduled snapshots every MIN minutes, 0 = off (default 60)
  --log-level LEVEL      trace, debug, info, warn, error (default info)

Common options:
  --data-dir DIR         state (default $XDG_DATA_HOME/cocalc-launchpad); the workspace,
                         image, account and hosts commands talk to the host running there,
                         else to the hub there (or in its hub folder), which routes each
                         workspace's commands to the host it is on
  --help`;

export interface HostOptions {
  command: "host";
  btrfs?: string;
  btrfsImage?: string;
  sizeBytes: number;
  nats?: string;
  natsSeedFile?: string;
  hostId: string;
  network: string;
  snapshotEveryMs: number;
  dataDir: string;
  logLevel: string;
  join?: string;
  /** Reach the hub's leaf listener here, not where its join answer says (its own host). */
  joinLeafUrl?: string;
  /** A stop leaves the workspaces running, for the next start to adopt. */
  keepWorkspaces?: boolean;
  /** How often the host writes its `hosts` record and beats (tests shorten it). */
  heartbeatMs?: number;
  /** Cores and memory the host gives its running workspaces (default: the machine's). */
  cpus?: number;
  memoryMb?: number;
}

/** `hub token HOSTID --out FILE`: a registration token from the running hub. */
export interface HubTokenOptions {
  command: "hub-token";
  hostId: string;
  out: string;
  ttlSeconds: number;
  dataDir: string;
}

/** `hub token list` and `hub token revoke TOKENID`. */
export type HubTokensOptions =
  | { command: "hub-tokens"; action: "list"; dataDir: string }
  | { command: "hub-tokens"; action: "revoke"; tokenId: string; dataDir: string };

export interface ClientOptions {
  command: "workspace" | "image" | "account" | "hosts";
  action: string;
  args: string[];
  flags: Record<string, string | boolean | undefined>;
  dataDir: string;
}

export interface HubOptions {
  command: "hub";
  bind: string;
  port: number;
  allowHosts: string[];
  /** The URL people use, for links (default http(s)://BIND:PORT). */
  publicUrl?: string;
  /** Reverse proxies in front (addresses or CIDR ranges) whose X-Forwarded-For is believed. */
  trustProxies?: string[];
  /**
   * Workspace apps' own origins are `p<port>-<wsid>.<appsDomain>`; default `localhost` on
   * loopback, else no apps.
   */
  appsDomain?: string;
  /** PEM files to serve HTTPS with; without them, a self-signed certificate off loopback. */
  cert?: string;
  key?: string;
  dataDir: string;
  logLevel: string;
  /** Rootfs directories `<imagesDir>/<name>` imported on a host that lacks a workspace's image. */
  imagesDir?: string;
  /** A host not heard for this long is offline. */
  offlineAfterMs?: number;
  /** A browser unused this long is signed out (default 30 days). */
  sessionIdleMs?: number;
  /** A browser is signed out this long after signing in (default 90 days). */
  sessionLifetimeMs?: number;
  /**
   * The host the hub runs joined to itself: off, or where its btrfs is (default: a btrfs
   * image in the data dir, when this machine can run workspaces).
   */
  localHost:
    | false
    | {
        btrfs?: string;
        btrfsImage?: string;
        sizeBytes: number;
        hostId?: string;
        /** Build and import image `base` when the host has none (first-image.ts). */
        firstImage?: boolean;
      };
}

/** `cocalc-launchpad hub account …`: the operator at the console manages accounts. */
export interface HubAccountOptions {
  command: "hub-account";
  action: "list" | "create" | "disable" | "enable" | "admin" | "user" | "delete" | "reset";
  email?: string;
  admin: boolean;
  /** How long a reset link is valid (reset). */
  ttlSeconds?: number;
  dataDir: string;
}

/** `cocalc-launchpad hub account ssh-key …`: an account's SSH public keys, from the console. */
export interface HubSshKeyOptions {
  command: "hub-ssh-key";
  action: "add" | "list" | "remove";
  email: string;
  name?: string;
  /** The public key's file (add); else it is read from stdin. */
  file?: string;
  dataDir: string;
}

/** The hub's base port; its leaf node listener is base + 2 (base + 1 is kept for SSH). */
export const HUB_PORT = 8443;

export type LaunchpadCommand =
  | HubOptions
  | HubAccountOptions
  | HubSshKeyOptions
  | HostOptions
  | ClientOptions
  | HubTokenOptions
  | HubTokensOptions
  | { command: "help" };

/** `30s`, `10m`, `1h`, `7d`, in seconds (from 1 s to `maxDays`). */
export function parseDuration(value: string, flag = "--ttl", maxDays = 30): number {
  const m = /^(\d+)([smhd])$/.exec(value.trim());
  if (!m)
    throw new UsageError(
      `${flag} takes a duration like 30s, 10m, 1h or 7d, not ${JSON.stringify(value)}`,
    );
  const s = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as "s" | "m" | "h" | "d"];
  if (s < 1 || s > maxDays * 86_400)
    throw new UsageError(`${flag} must be between 1s and ${maxDays}d`);
  return s;
}

/** The hub's data dir: `--data-dir`, else `$XDG_DATA_HOME/cocalc-launchpad/hub`. */
function hubDataDir(values: { "data-dir"?: unknown }, env: NodeJS.ProcessEnv): string {
  return resolve(
    (values["data-dir"] as string | undefined) ?? join(defaultLaunchpadDir(env), "hub"),
  );
}

/** `hub token HOSTID --out FILE [--ttl 1h]`, `hub token list`, `hub token revoke TOKENID`. */
function parseHubToken(args: string[], env: NodeJS.ProcessEnv): LaunchpadCommand {
  const { values, positionals } = parse(args, {
    "data-dir": { type: "string" },
    help: { type: "boolean" },
    out: { type: "string" },
    ttl: { type: "string" },
  });
  if (values.help) return { command: "help" };
  const dataDir = hubDataDir(values, env);
  if (positionals[0] === "list") {
    if (positionals.length !== 1) throw new UsageError("hub token list takes nothing");
    return { command: "hub-tokens", action: "list", dataDir };
  }
  if (positionals[0] === "revoke") {
    if (positionals.length !== 2) throw new UsageError("hub token revoke takes TOKENID");
    return {
      command: "hub-tokens",
      action: "revoke",
      tokenId: id("token id", positionals[1]),
      dataDir,
    };
  }
  if (positionals.length !== 1) throw new UsageError("hub token takes HOSTID (or list, revoke)");
  if (values.out === undefined) throw new UsageError("hub token needs --out FILE");
  return {
    command: "hub-token",
    hostId: id("host id", positionals[0]),
    out: resolve(values.out as string),
    ttlSeconds: parseDuration((values.ttl as string | undefined) ?? "1h"),
    dataDir,
  };
}

export function defaultLaunchpadDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share");
  return join(base, "cocalc-launchpad");
}

/** A host's id when none is given: from the machine's host name. */
export function defaultHostId(): string {
  const name = hostname()
    .replace(/[^-_A-Za-z0-9]/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 63);
  return name || "host";
}

/** `20G`, `512M`, `1T` or bytes. */
export function parseSize(value: string): number {
  const m = /^(\d+)([KMGT]?)$/i.exec(value.trim());
  if (!m)
    throw new UsageError(`--size takes a size like 20G or 512M, not ${JSON.stringify(value)}`);
  const unit = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[
    m[2]!.toUpperCase() as "" | "K" | "M" | "G" | "T"
  ];
  const bytes = Number(m[1]) * unit;
  if (bytes < 256 * 2 ** 20)
    throw new UsageError("--size must be at least 256M (btrfs needs room)");
  return bytes;
}

const ID = /^[A-Za-z0-9][-_A-Za-z0-9]{0,62}$/;

function id(what: string, value: string | undefined): string {
  if (value === undefined) throw new UsageError(`missing ${what}`);
  if (!ID.test(value))
    throw new UsageError(
      `${what} ${JSON.stringify(value)} must be letters, digits, - and _ (at most 63)`,
    );
  return value;
}

/** A host's --network: default, none, or a podman network's name. */
function networkName(value: string): string {
  if (!/^[A-Za-z0-9][-_.A-Za-z0-9]{0,62}$/.test(value))
    throw new UsageError(
      `--network takes default, none or a podman network name, not ${JSON.stringify(value)}`,
    );
  return value;
}

function logLevelOf(value: string | undefined): string {
  const level = value ?? "info";
  if (!["trace", "debug", "info", "warn", "error", "silent"].includes(level))
    throw new UsageError("--log-level must be trace, debug, info, warn, error or silent");
  return level;
}

function number(flag: string, v: unknown, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new UsageError(`${flag} takes a positive ${integer ? "whole " : ""}number`);
  return n;
}

export function parseLaunchpadCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): LaunchpadCommand {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h" || first === "help") return { command: "help" };
  const common = { "data-dir": { type: "string" as const }, help: { type: "boolean" as const } };
  // `account reset EMAIL` is the hub's, the one account command the ledger's has no use for.
  const hubAccount =
    first === "hub" && rest[0] === "account"
      ? rest.slice(1)
      : first === "account" && rest[0] === "reset"
        ? rest
        : undefined;
  if (hubAccount && hubAccount[0] === "ssh-key") {
    const { values, positionals } = parse(hubAccount.slice(1), {
      ...common,
      file: { type: "string" },
    });
    if (values.help) return { command: "help" };
    const [action, email, name] = positionals;
    if (action !== "add" && action !== "list" && action !== "remove")
      throw new UsageError("hub account ssh-key takes add, list or remove");
    const want = action === "list" ? 2 : 3;
    if (positionals.length !== want || !email)
      throw new UsageError(
        action === "list"
          ? "hub account ssh-key list takes EMAIL"
          : `hub account ssh-key ${action} takes EMAIL NAME`,
      );
    if (values.file !== undefined && action !== "add")
      throw new UsageError("--file goes with hub account ssh-key add");
    return {
      command: "hub-ssh-key",
      action,
      email,
      ...(name !== undefined && { name }),
      ...(values.file !== undefined && { file: values.file as string }),
      dataDir: hubDataDir(values, env),
    };
  }
  if (hubAccount) {
    const { values, positionals } = parse(hubAccount, {
      ...common,
      admin: { type: "boolean" },
      ttl: { type: "string" },
    });
    if (values.help) return { command: "help" };
    const actions = [
      "list",
      "create",
      "disable",
      "enable",
      "admin",
      "user",
      "delete",
      "reset",
    ] as const;
    const action = actions.find((a) => a === positionals[0]);
    if (!action) throw new UsageError(`hub account takes one of ${actions.join(", ")}`);
    const email = positionals[1];
    if (action === "list" ? positionals.length !== 1 : positionals.length !== 2 || !email)
      throw new UsageError(
        action === "list" ? "hub account list takes nothing" : `hub account ${action} takes EMAIL`,
      );
    if (values.ttl !== undefined && action !== "reset")
      throw new UsageError("--ttl goes with hub account reset");
    return {
      command: "hub-account",
      action,
      ...(email !== undefined && { email }),
      admin: values.admin === true,
      ...(action === "reset" && {
        ttlSeconds: parseDuration((values.ttl as string | undefined) ?? "1h", "--ttl", 7),
      }),
      dataDir: hubDataDir(values, env),
    };
  }
  if (first === "hub" && rest[0] === "token") return parseHubToken(rest.slice(1), env);
  if (first === undefined || first === "hub" || first.startsWith("--")) {
    const { values, positionals } = parse(first === "hub" ? rest : argv, {
      ...common,
      bind: { type: "string" },
      port: { type: "string" },
      "allow-host": { type: "string", multiple: true },
      "public-url": { type: "string" },
      "trust-proxy": { type: "string", multiple: true },
      "apps-domain": { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "log-level": { type: "string" },
      images: { type: "string" },
      "no-first-image": { type: "boolean" },
      "offline-after": { type: "string" },
      "session-idle": { type: "string" },
      "session-lifetime": { type: "string" },
      "no-local-host": { type: "boolean" },
      btrfs: { type: "string" },
      "btrfs-image": { type: "string" },
      size: { type: "string" },
      "host-id": { type: "string" },
    });
    if (values.help) return { command: "help" };
    if (positionals.length > 0)
      throw new UsageError(`unknown command "${positionals[0]}"; see cocalc-launchpad --help`);
    const bind = (values.bind as string | undefined) ?? "127.0.0.1";
    if (bind !== "localhost" && isIP(bind) === 0)
      throw new UsageError(
        `--bind must be an IP address or localhost, not ${JSON.stringify(bind)}`,
      );
    if ((values.cert === undefined) !== (values.key === undefined))
      throw new UsageError("--cert and --key go together");
    const port = number("--port", values.port, true) ?? HUB_PORT;
    if (port > 65532)
      throw new UsageError("--port must leave room for port + 3 (leaf nodes, hosts' NATS)");
    if (
      values["no-local-host"] &&
      (values.btrfs ?? values["btrfs-image"] ?? values.size ?? values["host-id"])
    )
      throw new UsageError(
        "--no-local-host and --btrfs, --btrfs-image, --size, --host-id exclude each other",
      );
    if (values.btrfs !== undefined && values["btrfs-image"] !== undefined)
      throw new UsageError("give --btrfs or --btrfs-image, not both");
    const publicUrl = values["public-url"] as string | undefined;
    if (publicUrl !== undefined && !/^https?:\/\/[^\s/]+(\/|$)/.test(publicUrl))
      throw new UsageError(`--public-url must be an http(s) URL, not ${JSON.stringify(publicUrl)}`);
    const trustProxies = (values["trust-proxy"] as string[] | undefined) ?? [];
    for (const p of trustProxies) {
      const [ip, bits, extra] = p.split("/");
      const family = isIP(ip ?? "");
      if (
        family === 0 ||
        extra !== undefined ||
        (bits !== undefined &&
          !(/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)))
      )
        throw new UsageError(
          `--trust-proxy takes an IP address or a CIDR range (127.0.0.1, 10.0.0.0/8), not ${JSON.stringify(p)}`,
        );
    }
    const appsDomain = (values["apps-domain"] as string | undefined)?.toLowerCase();
    if (
      appsDomain !== undefined &&
      !/^(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(
        appsDomain,
      )
    )
      throw new UsageError(
        `--apps-domain must be a DNS name such as apps.example.com, not ${JSON.stringify(appsDomain)}`,
      );
    return {
      command: "hub",
      bind,
      port,
      ...(appsDomain !== undefined && { appsDomain }),
      allowHosts: (values["allow-host"] as string[] | undefined) ?? [],
      ...(publicUrl !== undefined && { publicUrl }),
      ...(trustProxies.length > 0 && { trustProxies }),
      ...(values.cert !== undefined && { cert: resolve(values.cert as string) }),
      ...(values.key !== undefined && { key: resolve(values.key as string) }),
      dataDir: hubDataDir(values, env),
      logLevel: logLevelOf(values["log-level"] as string | undefined),
      imagesDir:
        values.images !== undefined
          ? resolve(values.images as string)
          : join(hubDataDir(values, env), "images"),
      ...(values["offline-after"] !== undefined && {
        offlineAfterMs: parseDuration(values["offline-after"] as string, "--offline-after") * 1000,
      }),
      sessionIdleMs:
        parseDuration(
          (values["session-idle"] as string | undefined) ?? "30d",
          "--session-idle",
          3650,
        ) * 1000,
      sessionLifetimeMs:
        parseDuration(
          (values["session-lifetime"] as string | undefined) ?? "90d",
          "--session-lifetime",
          3650,
        ) * 1000,
      localHost: values["no-local-host"]
        ? false
        : {
            ...(values.btrfs !== undefined && { btrfs: resolve(values.btrfs as string) }),
            ...(values["btrfs-image"] !== undefined && {
              btrfsImage: resolve(values["btrfs-image"] as string),
            }),
            sizeBytes: parseSize((values.size as string | undefined) ?? "20G"),
            ...(values["host-id"] !== undefined && {
              hostId: id("--host-id", values["host-id"] as string),
            }),
            firstImage: values["no-first-image"] !== true,
          },
    };
  }
  if (first === "host") {
    const { values, positionals } = parse(rest, {
      ...common,
      btrfs: { type: "string" },
      "btrfs-image": { type: "string" },
      size: { type: "string" },
      nats: { type: "string" },
      "nats-seed-file": { type: "string" },
      "host-id": { type: "string" },
      network: { type: "string" },
      "snapshot-every": { type: "string" },
      "log-level": { type: "string" },
      join: { type: "string" },
      "keep-workspaces": { type: "boolean" },
      cpus: { type: "string" },
      "memory-mb": { type: "string" },
    });
    if (values.help) return { command: "help" };
    if (positionals.length > 0)
      throw new UsageError(`host takes no arguments, got ${positionals.join(" ")}`);
    const btrfs = values.btrfs as string | undefined;
    const image = values["btrfs-image"] as string | undefined;
    if ((btrfs === undefined) === (image === undefined))
      throw new UsageError("host needs exactly one of --btrfs DIR or --btrfs-image FILE");
    if (values.size !== undefined && image === undefined)
      throw new UsageError("--size goes with --btrfs-image");
    if ((values.nats === undefined) !== (values["nats-seed-file"] === undefined))
      throw new UsageError("--nats and --nats-seed-file go together");
    if (values.join !== undefined && values.nats !== undefined)
      throw new UsageError(
        "--join runs the host's own nats-server as a leaf node: not with --nats",
      );
    const every = values["snapshot-every"] as string | undefined;
    if (every !== undefined && !/^\d+$/.test(every))
      throw new UsageError("--snapshot-every takes whole minutes (0 = off)");
    const logLevel = (values["log-level"] as string | undefined) ?? "info";
    if (!["trace", "debug", "info", "warn", "error", "silent"].includes(logLevel))
      throw new UsageError("--log-level must be trace, debug, info, warn, error or silent");
    const positive = (flag: string, v: unknown): number | undefined => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!(n > 0) || !Number.isFinite(n))
        throw new UsageError(`${flag} takes a positive number, not ${JSON.stringify(v)}`);
      return n;
    };
    const cpus = positive("--cpus", values.cpus);
    const memoryMb = positive("--memory-mb", values["memory-mb"]);
    return {
      command: "host",
      ...(btrfs !== undefined && { btrfs: resolve(btrfs) }),
      ...(image !== undefined && { btrfsImage: resolve(image) }),
      sizeBytes: parseSize((values.size as string | undefined) ?? "20G"),
      ...(values.nats !== undefined && { nats: values.nats as string }),
      ...(values["nats-seed-file"] !== undefined && {
        natsSeedFile: resolve(values["nats-seed-file"] as string),
      }),
      hostId: id("--host-id", (values["host-id"] as string | undefined) ?? defaultHostId()),
      network: networkName((values.network as string | undefined) ?? "default"),
      snapshotEveryMs: Number(every ?? "60") * 60_000,
      dataDir: resolve((values["data-dir"] as string | undefined) ?? defaultLaunchpadDir(env)),
      logLevel,
      ...(values.join !== undefined && { join: resolve(values.join as string) }),
      keepWorkspaces: values["keep-workspaces"] === true,
      ...(cpus !== undefined && { cpus }),
      ...(memoryMb !== undefined && { memoryMb }),
    };
  }
  if (first === "workspace" || first === "image" || first === "account" || first === "hosts") {
    const [action, ...more] = rest;
    const dash = more.indexOf("--");
    const flagsPart = dash === -1 ? more : more.slice(0, dash);
    const tail = dash === -1 ? [] : more.slice(dash + 1);
    const { values, positionals } = parse(flagsPart, {
      ...common,
      image: { type: "string" },
      "disk-mb": { type: "string" },
      "memory-mb": { type: "string" },
      cpus: { type: "string" },
      pids: { type: "string" },
      root: { type: "boolean" },
      description: { type: "string" },
      account: { type: "string" },
      host: { type: "string" },
      "user-namespaces": { type: "boolean" },
      network: { type: "string" },
      interactive: { type: "boolean", short: "i" },
      tty: { type: "boolean", short: "t" },
      timeout: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) return { command: "help" };
    if (values.host !== undefined) id("--host", values.host as string);
    const actions =
      first === "workspace"
        ? [
            "create",
            "start",
            "stop",
            "delete",
            "snapshot",
            "snapshots",
            "snapshot-delete",
            "restore",
            "image",
            "exec",
            "shell",
            "quota",
            "list",
          ]
        : first === "image"
          ? ["import", "list"]
          : first === "hosts"
            ? ["list", "drain", "undrain"]
            : ["cores", "list"];
    if (action === undefined || !actions.includes(action))
      throw new UsageError(`${first} needs one of: ${actions.join(", ")}`);
    const need = (n: number, what: string) => {
      if (positionals.length !== n) throw new UsageError(`${first} ${action} takes ${what}`);
    };
    if (first === "workspace") {
      if (action === "list") need(0, "no arguments");
      else if (["snapshot", "snapshot-delete", "restore", "image"].includes(action))
        need(2, "WSID NAME");
      else need(1, "WSID");
      if (positionals[0] !== undefined) id("workspace id", positionals[0]);
      if (positionals[1] !== undefined) id("name", positionals[1]);
      if (action === "create" && values.image === undefined)
        throw new UsageError("workspace create needs --image NAME");
      if (action === "exec" && tail.length === 0)
        throw new UsageError("workspace exec needs -- COMMAND [ARG…]");
      if (
        action === "quota" &&
        ["disk-mb", "memory-mb", "cpus", "pids"].every((k) => values[k] === undefined)
      )
        throw new UsageError("workspace quota needs --disk-mb, --memory-mb, --cpus or --pids");
      if (action === "shell" && tail.length > 0)
        throw new UsageError("workspace shell takes no command (use exec -it)");
      if (values.network !== undefined && action !== "create")
        throw new UsageError("--network goes with workspace create");
      if (values.network !== undefined && values.network !== "none" && values.network !== "default")
        throw new UsageError(
          `workspace create --network takes none or default, not ${JSON.stringify(values.network)}`,
        );
      if (values.json && action !== "snapshots")
        throw new UsageError("--json goes with workspace snapshots");
      const streamed = action === "exec" || action === "shell";
      if (!streamed && (values.interactive || values.tty || values.timeout !== undefined))
        throw new UsageError("-i, -t and --timeout go with workspace exec or shell");
      if (values.timeout !== undefined && !/^\d+$/.test(values.timeout as string))
        throw new UsageError("--timeout takes whole seconds (0 = none)");
      number("--disk-mb", values["disk-mb"], true);
      number("--memory-mb", values["memory-mb"], true);
      number("--cpus", values.cpus, false);
      number("--pids", values.pids, true);
      if (values.account !== undefined) id("--account", values.account as string);
    } else if (first === "account") {
      if (action === "cores") {
        need(2, "ACCOUNT N|none");
        id("account", positionals[0]);
        const v = positionals[1]!;
        if (v !== "none" && !(Number.isFinite(Number(v)) && Number(v) >= 0))
          throw new UsageError("account cores takes a number of cores (0 or more) or none");
      } else need(0, "no arguments");
    } else if (first === "hosts") {
      if (action === "list") need(0, "no arguments");
      else {
        need(1, "HOSTID");
        id("host id", positionals[0]);
      }
    } else {
      if (action === "import") {
        need(2, "NAME DIR");
        id("image name", positionals[0]);
      } else need(0, "no arguments");
    }
    return {
      command: first,
      action,
      args: action === "exec" ? [positionals[0]!, ...tail] : positionals,
      flags: values as Record<string, string | boolean | undefined>,
      dataDir: resolve((values["data-dir"] as string | undefined) ?? defaultLaunchpadDir(env)),
    };
  }
  throw new UsageError(`unknown command ${JSON.stringify(first)}; see --help`);
}
