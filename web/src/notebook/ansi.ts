/**
 * ANSI colour codes (SGR) of tracebacks and streams as styled runs of text. Only colour,
 * bold, italic and underline are kept; every other escape sequence is dropped.
 */

export interface AnsiRun {
  text: string;
  fg?: string;
  bg?: string;
  bold?: boolean;
  italic?: boolean;
  underline?: boolean;
}

const BASE = [
  "#3b3b3b",
  "#c9302c",
  "#2e8b3a",
  "#b58900",
  "#2a6fdb",
  "#a03ea0",
  "#138a9e",
  "#c8c8c8",
];
const BRIGHT = [
  "#6e6e6e",
  "#e0524d",
  "#46b455",
  "#d6a815",
  "#5790f0",
  "#c35bc3",
  "#2cb0c4",
  "#ffffff",
];

function color256(n: number): string | undefined {
  if (n < 8) return BASE[n];
  if (n < 16) return BRIGHT[n - 8];
  if (n < 232) {
    const v = n - 16;
    const step = (x: number) => (x === 0 ? 0 : 55 + x * 40);
    return `rgb(${step(Math.floor(v / 36))}, ${step(Math.floor(v / 6) % 6)}, ${step(v % 6)})`;
  }
  if (n < 256) {
    const g = 8 + (n - 232) * 10;
    return `rgb(${g}, ${g}, ${g})`;
  }
  return undefined;
}

const E = String.fromCharCode(27);
const BEL = String.fromCharCode(7);
/** CSI sequences (colours are `m`), OSC/DCS/PM/APC strings, and two-character escapes. */
const ESCAPE = new RegExp(
  `${E}\\[([0-9;]*)([A-Za-z])|${E}[\\]P^_][^${BEL}${E}]*(?:${BEL}|${E}\\\\)?|${E}.`,
  "g",
);

/** The runs of `text` with their styles. */
export function ansiRuns(text: string): AnsiRun[] {
  const runs: AnsiRun[] = [];
  let style: Omit<AnsiRun, "text"> = {};
  let at = 0;
  const push = (s: string) => {
    if (s) runs.push({ text: s, ...style });
  };
  for (let m = ESCAPE.exec(text); m; m = ESCAPE.exec(text)) {
    push(text.slice(at, m.index));
    at = m.index + m[0].length;
    if (m[2] !== "m") continue;
    const codes = (m[1] ?? "").split(";").map((c) => (c === "" ? 0 : Number(c)));
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i]!;
      if (c === 0) style = {};
      else if (c === 1) style = { ...style, bold: true };
      else if (c === 3) style = { ...style, italic: true };
      else if (c === 4) style = { ...style, underline: true };
      else if (c === 22) style = { ...style, bold: false };
      else if (c === 23) style = { ...style, italic: false };
      else if (c === 24) style = { ...style, underline: false };
      else if (c >= 30 && c <= 37) style = { ...style, fg: BASE[c - 30]! };
      else if (c >= 90 && c <= 97) style = { ...style, fg: BRIGHT[c - 90]! };
      else if (c >= 40 && c <= 47) style = { ...style, bg: BASE[c - 40]! };
      else if (c >= 100 && c <= 107) style = { ...style, bg: BRIGHT[c - 100]! };
      else if (c === 39) {
        const { fg: _f, ...rest } = style;
        style = rest;
      } else if (c === 49) {
        const { bg: _b, ...rest } = style;
        style = rest;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        const col = color256(codes[i + 2] ?? 0);
        if (col) style = { ...style, [c === 38 ? "fg" : "bg"]: col };
        i += 2;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
        const [r, g, b] = [codes[i + 2] ?? 0, codes[i + 3] ?? 0, codes[i + 4] ?? 0];
        style = { ...style, [c === 38 ? "fg" : "bg"]: `rgb(${r}, ${g}, ${b})` };
        i += 4;
      }
    }
  }
  push(text.slice(at));
  return runs;
}

/** The text without its escape sequences (colours and all). */
export function stripAnsi(text: string): string {
  return ansiRuns(text)
    .map((r) => r.text)
    .join("");
}
