/**
 * The hub's TLS certificate: given (`--cert`/`--key`), or made once with OpenSSL (a P-256 key
 * and a self-signed certificate for the host's names, 825 days) and kept in the data dir. The
 * key is written by openssl itself into a 0700 folder and then made 0600; nothing secret goes
 * through argv.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CocalcError } from "../../shared/errors.js";
import type { HubCertPin } from "../../shared/launchpad.js";

const execFileP = promisify(execFile);

export interface Tls {
  cert: string;
  key: string;
  /** The files, which the hub's nats-server reads for its client and leaf listeners. */
  certFile: string;
  keyFile: string;
  /** SHA-256 fingerprint of the certificate, for people to compare. */
  fingerprint: string;
  /** Made by the hub in its data dir (it names localhost and the bind address). */
  generated: boolean;
  /**
   * Signed by its own key (the hub's own, or an operator's): no CA vouches for it, so hosts
   * and the console trust the certificate itself, carried in the pin.
   */
  selfSigned: boolean;
}

async function load(certFile: string, keyFile: string, generated: boolean): Promise<Tls> {
  const info = await stat(keyFile);
  if ((info.mode & 0o077) !== 0)
    throw new CocalcError(
      "ERR_HUB_TLS",
      `${keyFile} can be read by other users (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`,
    );
  const [cert, key] = await Promise.all([readFile(certFile, "utf8"), readFile(keyFile, "utf8")]);
  let fingerprint: string;
  let selfSigned: boolean;
  try {
    const x = new X509Certificate(cert);
    fingerprint = x.fingerprint256;
    selfSigned = x.checkIssued(x) && x.verify(x.publicKey);
  } catch (err) {
    throw new CocalcError(
      "ERR_HUB_TLS",
      `${certFile} is not a PEM certificate: ${(err as Error).message}`,
    );
  }
  return { cert, key, certFile, keyFile, fingerprint, generated, selfSigned };
}

/** What hosts and the console pin: the fingerprint, and the certificate when self-signed. */
export function certPin(tls: Tls): HubCertPin {
  return { fingerprint: tls.fingerprint, ...(tls.selfSigned && { cert: tls.cert }) };
}

/** The certificate to serve: the given files, or the data dir's self-signed one (made once). */
export async function hubTls(
  dataDir: string,
  given: { cert?: string; key?: string },
  names: readonly string[],
): Promise<Tls> {
  if (given.cert || given.key) {
    if (!given.cert || !given.key)
      throw new CocalcError("ERR_HUB_TLS", "--cert and --key go together");
    return load(given.cert, given.key, false);
  }
  const dir = join(dataDir, "tls");
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const exists = await stat(certFile).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const san = [...new Set(["localhost", hostname(), ...names])]
      .map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n.replace(/^\[|\]$/g, "")}` : `DNS:${n}`))
      .join(",");
    try {
      await execFileP(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-keyout",
          keyFile,
          "-out",
          certFile,
          "-days",
          "825",
          "-subj",
          `/CN=${hostname().slice(0, 60)}`,
          "-addext",
          `subjectAltName=${san}`,
        ],
        { timeout: 30_000 },
      );
    } catch (err) {
      throw new CocalcError(
        "ERR_HUB_TLS",
        `could not make a self-signed certificate with openssl (apt-get install openssl, or pass --cert/--key): ${(err as Error).message}`,
      );
    }
    await chmod(keyFile, 0o600);
  }
  return load(certFile, keyFile, true);
}
