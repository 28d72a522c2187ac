/**
 * Connections to the hub's nats-server that trust exactly the hub's certificate: the chain is
 * verified by Node's TLS (against the certificate itself when it is self-signed, else the
 * system's CAs) and the certificate the hub presents must have the pinned SHA-256 fingerprint.
 * The fingerprint stands in for the name check: a connection to 127.0.0.1 or to a name the
 * certificate lacks is fine when the certificate is exactly the hub's.
 */
import type { PeerCertificate } from "node:tls";
import type { TlsOptions } from "@nats-io/nats-core";
import { CocalcError } from "../../shared/errors.js";
import type { HubCertPin } from "../../shared/launchpad.js";

/** `AB:CD:…` (what X509Certificate.fingerprint256 gives), whatever case or separators. */
function normalFingerprint(fingerprint: string): string {
  return fingerprint.replace(/[^0-9a-f]/gi, "").toUpperCase();
}

/** Whether `fingerprint` has the form of a SHA-256 fingerprint (32 bytes in hex). */
function isFingerprint(fingerprint: unknown): fingerprint is string {
  return (
    typeof fingerprint === "string" &&
    /^[0-9a-f:]+$/i.test(fingerprint) &&
    normalFingerprint(fingerprint).length === 64
  );
}

/** The error a connection fails with when the hub presents another certificate. */
export class CertificateNotPinned extends Error {
  override readonly name = "CertificateNotPinned";
  constructor(
    readonly presented: string,
    readonly pinned: string,
  ) {
    super(`the server presented certificate SHA-256 ${presented}, not the pinned ${pinned}`);
  }
}

/** nats.js `tls` options that accept only the pinned certificate. */
export function pinnedTls(pin: HubCertPin): TlsOptions {
  const want = normalFingerprint(pin.fingerprint);
  const options = {
    ...(pin.cert !== undefined && { ca: pin.cert }),
    checkServerIdentity: (_host: string, cert: PeerCertificate) =>
      normalFingerprint(cert.fingerprint256 ?? "") === want
        ? undefined
        : new CertificateNotPinned(cert.fingerprint256 ?? "none", pin.fingerprint),
  };
  // nats.js passes its tls options on to Node's tls.connect, checkServerIdentity included.
  return options as TlsOptions;
}

/** Why a connection with `pinnedTls` failed at TLS, if it did (walks the causes). */
export function tlsFailure(err: unknown): string | undefined {
  for (
    let e = err as { cause?: unknown } | undefined, n = 0;
    e && n < 5;
    e = e.cause as never, n++
  ) {
    if (e instanceof CertificateNotPinned) return e.message;
    const { code, message } = e as { code?: unknown; message?: unknown };
    const text = `${String(code ?? "")} ${String(message ?? "")}`;
    if (
      /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|certificate|does not support 'tls'|tls.*not available/i.test(
        text,
      )
    )
      return String(message ?? code);
  }
  return undefined;
}

/** A pin read from a file or token: its fingerprint well formed, its certificate PEM. */
export function checkPin(pin: unknown, where: string): HubCertPin {
  const p = pin as Partial<HubCertPin> | null;
  if (
    !p ||
    !isFingerprint(p.fingerprint) ||
    (p.cert !== undefined &&
      (typeof p.cert !== "string" || !p.cert.includes("-----BEGIN CERTIFICATE-----")))
  )
    throw new CocalcError(
      "ERR_HOST_JOIN_TLS",
      `${where}: the hub's certificate pin is damaged (a SHA-256 fingerprint and, for a self-signed certificate, the certificate in PEM); issue a new token`,
    );
  return { fingerprint: p.fingerprint, ...(p.cert !== undefined && { cert: p.cert }) };
}
