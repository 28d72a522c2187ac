/** How sizes and times read in the explorer. Pure, so it is unit-tested. */

const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"] as const;

/** 0 B, 999 B, 1.0 KB, 12 KB, 1.5 GB (powers of 1024, one decimal below 10). */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${bytes} B`;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Today: `14:03`; this year: `Nov 22, 14:03`; else `2023-11-22`. */
export function formatTime(ms: number, now = Date.now()): string {
  if (!ms) return "";
  const d = new Date(ms);
  const n = new Date(now);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.toDateString() === n.toDateString()) return hm;
  if (d.getFullYear() === n.getFullYear()) {
    const month = d.toLocaleString("en", { month: "short" });
    return `${month} ${d.getDate()}, ${hm}`;
  }
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** `rwxr-xr-x` from permission bits. */
export function formatMode(mode: number): string {
  const bits = "rwxrwxrwx";
  let out = "";
  for (let i = 0; i < 9; i++) out += mode & (1 << (8 - i)) ? bits[i] : "-";
  return out;
}

/** "cannot open ~/x: permission denied" → "Permission denied", where the path is shown already. */
export function reasonOf(message: string): string {
  const m = /^cannot [a-z ]+? .*?: ([^:]+)$/.exec(message);
  const reason = m ? m[1]! : message;
  return reason.charAt(0).toUpperCase() + reason.slice(1);
}

/**
 * A name as it is shown: a control character (a newline, a tab…) made elsewhere becomes its
 * picture (`a␊b`, U+2400…) instead of printing as a space or nothing, so such a name can be
 * told apart and renamed.
 */
export function visibleName(name: string): string {
  let out = "";
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20) out += String.fromCodePoint(0x2400 + c);
    else if (c === 0x7f) out += "\u2421";
    else if ((c >= 0x80 && c <= 0x9f) || c === 0x2028 || c === 0x2029)
      out += `\\u{${c.toString(16)}}`;
    else out += ch;
  }
  return out;
}
