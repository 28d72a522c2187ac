/**
 * A page's NATS login key and the signature of a server's nonce with it. The key is an
 * Ed25519 pair made by WebCrypto with a private half that cannot be exported, so its seed
 * never exists outside the browser's key store, let alone leaves the page; made once per
 * page, before anyone signs in, so that signing in does no key work. WebCrypto signs in
 * native code (well under a millisecond, where the pure-JS nkeys takes several).
 *
 * nats.js asks its authenticator for the nonce's signature synchronously, while WebCrypto
 * signs asynchronously: so the socket handed to nats.js (NonceSigner.wrap) holds back the
 * server's INFO until its nonce is signed, and the authenticator then finds the signature.
 */
import { bytesToBase64url } from "./base64url.js";
import { encodeNkey, PREFIX_USER } from "./nkey-codec.js";

/** What signs a page's NATS logins: its public nkey (`U…`) and a signer of nonces. */
export interface NatsKey {
  readonly publicKey: string;
  sign(data: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/** The part of WebCrypto used here (browsers and Node both have it as `crypto.subtle`). */
interface Ed25519Subtle {
  generateKey(
    algorithm: { name: "Ed25519" },
    extractable: boolean,
    usages: string[],
  ): Promise<{ publicKey: object; privateKey: object }>;
  exportKey(format: "raw", key: object): Promise<ArrayBuffer>;
  sign(algorithm: { name: "Ed25519" }, key: object, data: Uint8Array): Promise<ArrayBuffer>;
}

/** A user's public nkey (`U` + 55 characters) of a raw 32-byte Ed25519 public key. */
export function userPublicKey(raw: Uint8Array): string {
  if (raw.length !== 32) throw new Error("an Ed25519 public key has 32 bytes");
  return encodeNkey([PREFIX_USER], raw);
}

/** A new key made by WebCrypto (private half not extractable); undefined where it has no Ed25519. */
export async function webCryptoNatsKey(): Promise<NatsKey | undefined> {
  const subtle = (crypto as { subtle?: unknown }).subtle as Ed25519Subtle | undefined;
  if (!subtle) return undefined;
  let pair: { publicKey: object; privateKey: object };
  try {
    pair = await subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  } catch {
    return undefined;
  }
  const publicKey = userPublicKey(new Uint8Array(await subtle.exportKey("raw", pair.publicKey)));
  return {
    publicKey,
    sign: async (data) =>
      new Uint8Array(await subtle.sign({ name: "Ed25519" }, pair.privateKey, data)),
  };
}

/** The part of a WebSocket that nats.js's transport uses. */
export interface NatsSocket {
  binaryType: string;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: never): void;
  close(code?: number, reason?: string): void;
}

/** The server's first line (nats-server ends it with a space before CRLF). */
const INFO = /^INFO\s+([^\r\n]+)/;

/** A message's bytes: an ArrayBuffer (a browser's, with binaryType arraybuffer) or a view. */
function bytesOf(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(0);
}

/**
 * Signs the nonces of the servers a page connects to with `key`: `wrap` the socket of each
 * connection; `auth(nonce)` is then the nkey and signature nats.js sends in its CONNECT.
 */
export class NonceSigner {
  private readonly signatures = new Map<string, string>();

  constructor(readonly key: NatsKey) {}

  /** The CONNECT fields for `nonce` (signed by a socket this signer wrapped). */
  auth(nonce?: string): { nkey: string; sig: string } {
    const sig = nonce === undefined ? "" : this.signatures.get(nonce);
    if (sig === undefined) throw new Error("the server's nonce was not signed");
    return { nkey: this.key.publicKey, sig };
  }

  /**
   * `socket` as nats.js sees it: every event passes in order, but the first message (the
   * server's INFO) only once its nonce is signed.
   */
  wrap(socket: NatsSocket): NatsSocket {
    let head = "";
    let released = false;
    // Events held back while the nonce is being signed, in order.
    let queue: Promise<void> = Promise.resolve();
    const outer: NatsSocket = {
      binaryType: "arraybuffer",
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
      onopen: null,
      onmessage: null,
      onclose: null,
      onerror: null,
      send: (data) => socket.send(data),
      close: (code, reason) => socket.close(code, reason),
    };
    const pass =
      <E>(deliver: (e: E) => void) =>
      (e: E) => {
        if (released) return deliver(e);
        queue = queue.then(() => deliver(e));
      };
    socket.binaryType = "arraybuffer";
    socket.onopen = pass((e) => outer.onopen?.(e));
    socket.onclose = pass((e) => outer.onclose?.(e));
    socket.onerror = pass((e) => outer.onerror?.(e));
    socket.onmessage = (e) => {
      const deliver = () => outer.onmessage?.(e);
      if (released) return deliver();
      head += typeof e.data === "string" ? e.data : new TextDecoder().decode(bytesOf(e.data));
      const end = head.indexOf("\n");
      if (end === -1) {
        queue = queue.then(deliver);
        return;
      }
      const m = INFO.exec(head.slice(0, end));
      let nonce: string | undefined;
      try {
        nonce = m ? (JSON.parse(m[1]!.trim()) as { nonce?: string }).nonce : undefined;
      } catch {
        nonce = undefined;
      }
      queue = queue
        .then(async () => {
          if (nonce === undefined) return;
          const sig = await this.key.sign(new TextEncoder().encode(nonce));
          this.signatures.set(nonce, bytesToBase64url(sig));
          // Only the newest few: nats.js reads a connection's soon after its INFO.
          for (const old of this.signatures.keys()) {
            if (this.signatures.size <= 8) break;
            this.signatures.delete(old);
          }
        })
        // A failed signature leaves the CONNECT unsigned: the server refuses it in words.
        .catch(() => undefined)
        .then(() => {
          released = true;
          deliver();
        });
    };
    return outer;
  }
}
