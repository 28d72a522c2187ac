/**
 * A host joins the hub: `host --join FILE` exchanges the registration token in FILE (made by
 * `cocalc-launchpad hub token`) for the host's leaf node credentials, kept in its data dir.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fmtCreds } from "@nats-io/jwt";
import { jwtAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { fromSeed } from "@nats-io/nkeys";
import { connect } from "@nats-io/transport-node";
import type { JoinAnswer } from "../../services/hub/registry.js";
import { writeSecretFile } from "../../services/runtime/secret-file.js";
import { errorText, request } from "../../shared/command-client.js";
import { CocalcError } from "../../shared/errors.js";
import type { HostTokenFile, HubCertPin, LeafCredentials } from "../../shared/launchpad.js";
import { RegistrySubjects } from "../../shared/subjects.js";
import { writeFileAtomic } from "../common/files.js";
import { checkPin, pinnedTls, tlsFailure } from "./tls-pin.js";

function leafFile(dataDir: string): string {
  return join(dataDir, "leaf.json");
}

/**
 * The host's leaf credentials: kept from an earlier join, or got now by exchanging the
 * registration token in `tokenFile` (it carries a login that may only ask for them).
 */
export async function joinHub(
  tokenFile: string,
  dataDir: string,
  progress: (line: string) => void,
  /** The cores quotas of the host's own ledger: refused unless the hub has each. */
  coresQuotas: Record<string, number> = {},
  /** Reach the leaf listener here instead of where the hub says (its own host: loopback). */
  leafUrl?: string,
): Promise<LeafCredentials> {
  const joined = await joinedBefore(dataDir);
  if (joined) return joined;
  // The secret logs into the hub: a file others can read gives it away.
  const mode = await stat(tokenFile).then(
    (s) => s.mode & 0o777,
    () => undefined,
  );
  if (mode !== undefined && (mode & 0o077) !== 0)
    throw new CocalcError(
      "ERR_HOST_JOIN",
      `${tokenFile} can be read by others (mode ${mode.toString(8).padStart(4, "0")}): its secret may be known; chmod 600 it, or issue a new token`,
    );
  let token: HostTokenFile;
  try {
    token = JSON.parse(await readFile(tokenFile, "utf8")) as HostTokenFile;
  } catch {
    throw new CocalcError(
      "ERR_HOST_JOIN",
      `${tokenFile} is not a registration token file (make one with \`cocalc-launchpad hub token\`)`,
    );
  }
  if (token.v !== 2 || !token.tokenId || !token.secret || !token.jwt || !token.natsUrl)
    throw new CocalcError(
      "ERR_HOST_JOIN",
      `${tokenFile} is not a registration token of this version (make a new one with \`cocalc-launchpad hub token\`)`,
    );
  const seed = new TextEncoder().encode(token.secret);
  try {
    fromSeed(seed);
  } catch {
    throw new CocalcError(
      "ERR_HOST_JOIN",
      `${tokenFile}: its secret is damaged (not an nkey seed); issue a new token`,
    );
  }
  const pin = token.tls && checkPin(token.tls, tokenFile);
  progress(
    `joining the hub at ${token.natsUrl} as host ${token.hostId}${pin ? ` (TLS, certificate SHA-256 ${pin.fingerprint})` : ""}`,
  );
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: token.natsUrl,
      authenticator: jwtAuthenticator(token.jwt, seed),
      inboxPrefix: RegistrySubjects.joinInbox(token.tokenId),
      maxReconnectAttempts: 0,
      timeout: 10_000,
      ...(pin && { tls: pinnedTls(pin) }),
    });
  } catch (err) {
    const e = err as Error;
    const tls = tlsFailure(err);
    if (tls)
      throw new CocalcError(
        "ERR_HOST_JOIN_TLS",
        pin
          ? `the hub at ${token.natsUrl} is not the one the registration token names (certificate SHA-256 ${pin.fingerprint}): ${tls}. Nothing was joined: use a token of this hub (after its certificate changed, issue a new one) and check that nothing sits between this host and the hub`
          : `the hub at ${token.natsUrl} speaks TLS, but the registration token names no certificate to check it by: ${tls}. Nothing was joined: issue a new token`,
      );
    throw new CocalcError(
      "ERR_HOST_JOIN",
      /authori[sz]ation/i.test(`${e.name} ${e.message}`)
        ? "the hub refused the registration token: it is wrong, or expired long ago; issue a new one"
        : `cannot reach the hub at ${token.natsUrl}: ${e.message}`,
    );
  }
  try {
    const r = await request<{ result: JoinAnswer }>(
      nc,
      RegistrySubjects.join(token.tokenId),
      { coresQuotas },
      {
        timeoutMs: 30_000,
        refused: (error) =>
          error.code === "ERR_HOST_JOIN_QUOTA"
            ? new CocalcError("ERR_HOST_JOIN_QUOTA", errorText(error))
            : new CocalcError("ERR_HOST_JOIN", error.message),
      },
    );
    const { coresQuotaNotes, ...answer } = r.result;
    const leaf = await keepLeaf(dataDir, answer, leafUrl ?? answer.leafUrl, pin);
    progress(`joined the hub as host ${leaf.hostId}`);
    for (const note of coresQuotaNotes ?? []) progress(note);
    return leaf;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/**
 * Keeps a host's leaf credentials (0600) with the leaf listener's URL and, for a self-signed
 * hub, its certificate as the only CA the leaf connection trusts (public: 0644); what it kept.
 * The hub's own host goes through here on every start, so it follows the hub's certificate.
 */
export async function keepLeaf(
  dataDir: string,
  creds: LeafCredentials,
  leafUrl: string,
  pin: HubCertPin | undefined,
): Promise<LeafCredentials> {
  const { hubCaFile: _before, ...rest } = creds;
  let hubCaFile: string | undefined;
  if (pin?.cert !== undefined) {
    hubCaFile = join(dataDir, "hub-cert.pem");
    await writeFileAtomic(hubCaFile, pin.cert.endsWith("\n") ? pin.cert : `${pin.cert}\n`, 0o644);
  }
  const leaf: LeafCredentials = { ...rest, leafUrl, ...(hubCaFile !== undefined && { hubCaFile }) };
  await writeSecretFile(leafFile(dataDir), `${JSON.stringify(leaf, null, 2)}\n`);
  return leaf;
}

/** The leaf credentials of a host that joined earlier (kept in DATA_DIR/leaf.json), if any. */
export async function joinedBefore(dataDir: string): Promise<LeafCredentials | undefined> {
  let text: string;
  try {
    text = await readFile(leafFile(dataDir), "utf8");
  } catch {
    return undefined;
  }
  let leaf: LeafCredentials;
  try {
    leaf = JSON.parse(text) as LeafCredentials;
  } catch {
    throw new CocalcError(
      "ERR_HOST_JOIN",
      `${leafFile(dataDir)} is not the leaf credentials of a joined host: remove it and join again with a new token`,
    );
  }
  if (typeof leaf.jwt !== "string" || typeof leaf.seed !== "string")
    throw new CocalcError(
      "ERR_HOST_JOIN",
      `${leafFile(dataDir)} holds a password login of an older control plane: remove it and join the hub with a new token (\`cocalc-launchpad hub token\`)`,
    );
  return leaf;
}

/**
 * Writes the leaf node's login in NATS's credentials format (0600) for the host's nats-server
 * config to name; its path.
 */
export async function writeLeafCredentials(c: LeafCredentials, dir: string): Promise<string> {
  const file = join(dir, "leaf.creds");
  const creds = fmtCreds(c.jwt, fromSeed(new TextEncoder().encode(c.seed)));
  await writeSecretFile(file, new TextDecoder().decode(creds));
  return file;
}
