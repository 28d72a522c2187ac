/**
 * The text form of nkeys: prefix bytes and key, a CRC-16/XMODEM (little-endian), in base32
 * without padding. Pure, for Node (services/runtime/nkey.ts signs natively) and the page
 * (shared/nats-page-key.ts signs with WebCrypto) alike.
 */

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** nkey prefix bytes: a seed, and the user role (its public keys start with "U"). */
export const PREFIX_SEED = 18 << 3;
export const PREFIX_USER = 20 << 3;

export function base32Decode(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const c of text) {
    const v = BASE32.indexOf(c);
    if (v === -1) throw new Error("an nkey holds only A-Z and 2-7");
    acc = ((acc << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

/** CRC-16/XMODEM, the checksum nkeys append. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The nkey text of `prefix` bytes followed by `raw`, with its checksum. */
export function encodeNkey(prefix: readonly number[], raw: Uint8Array): string {
  const body = new Uint8Array(prefix.length + raw.length + 2);
  body.set(prefix, 0);
  body.set(raw, prefix.length);
  const crc = crc16(body.subarray(0, prefix.length + raw.length));
  body[body.length - 2] = crc & 0xff;
  body[body.length - 1] = crc >> 8;
  return base32Encode(body);
}
