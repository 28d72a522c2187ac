/**
 * Secrets of a data directory, created once and kept in 0600 files: the URL token, the
 * services' nkey seed and the browser's NATS password. They never go into argv or logs.
 */
import { randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { createUserNkey, publicKeyOfSeed } from "../../services/runtime/nkey.js";
import { writeFileAtomic } from "./files.js";

export interface Secrets {
  token: string;
  servicesSeed: string;
  /** The public key of servicesSeed, kept so that no start has to derive it. */
  servicesPublicKey: string;
  browserPassword: string;
}

function random(): string {
  return randomBytes(32).toString("base64url");
}

export function secretsFile(dataDir: string): string {
  return join(dataDir, "secrets.json");
}

/** The nkey seed file of the services' user (the nats CLI context points at it). */
export function seedFile(dataDir: string): string {
  return join(dataDir, "services.nk");
}

export async function loadSecrets(dataDir: string): Promise<Secrets> {
  const file = secretsFile(dataDir);
  let secrets: Secrets | undefined;
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Partial<Secrets>;
    if (parsed.token && parsed.servicesSeed && parsed.browserPassword) {
      if (!parsed.servicesPublicKey) {
        parsed.servicesPublicKey = publicKeyOfSeed(parsed.servicesSeed);
        await writeFileAtomic(file, `${JSON.stringify(parsed, null, 2)}\n`);
      }
      secrets = parsed as Secrets;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" && !(err instanceof SyntaxError))
      throw err;
  }
  if (!secrets) {
    const user = createUserNkey();
    secrets = {
      token: random(),
      servicesSeed: user.seed,
      servicesPublicKey: user.publicKey,
      browserPassword: random(),
    };
    await writeFileAtomic(file, `${JSON.stringify(secrets, null, 2)}\n`);
  }
  await writeFileAtomic(seedFile(dataDir), `${secrets.servicesSeed}\n`);
  return secrets;
}

/** Reads a token from a file given with --token-file. */
export async function readTokenFile(path: string): Promise<string> {
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0) {
    throw new Error(
      `${path} can be read by other users (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`,
    );
  }
  const token = (await readFile(path, "utf8")).trim();
  if (token.length < 16 || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw new Error(`${path} must hold a token of at least 16 characters from A-Z a-z 0-9 _ -`);
  }
  return token;
}

/** The id of the workspace that lives in this data directory, created once. */
export async function loadWorkspaceId(dataDir: string): Promise<string> {
  const file = join(dataDir, "workspace-id");
  try {
    const id = (await readFile(file, "utf8")).trim();
    if (/^[a-z0-9]{8,40}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const id = randomBytes(10).toString("hex");
  await writeFileAtomic(file, `${id}\n`, 0o644);
  return id;
}

/** Replaces some secrets of a data dir (a new token, a new browser password); returns them all. */
export async function updateSecrets(
  dataDir: string,
  change: Partial<Pick<Secrets, "token" | "browserPassword">>,
): Promise<Secrets> {
  const secrets = { ...(await loadSecrets(dataDir)), ...change };
  await writeFileAtomic(secretsFile(dataDir), `${JSON.stringify(secrets, null, 2)}\n`);
  return secrets;
}

/** A new random secret (a token, a password). */
export function newSecret(): string {
  return random();
}

/** The signed-in browsers of a data dir (services/gateway/browser-sessions.ts). */
export function browserSessionsFile(dataDir: string): string {
  return join(dataDir, "browser-sessions.json");
}
