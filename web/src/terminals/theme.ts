/** Terminal colours for the page's light or dark theme. */
import type { ITheme } from "@xterm/xterm";

const lightTheme: ITheme = {
  background: "#ffffff",
  foreground: "#1d2127",
  cursor: "#1d2127",
  cursorAccent: "#ffffff",
  selectionBackground: "#b3d4fc",
  selectionInactiveBackground: "#dde3ea",
  black: "#1d2127",
  red: "#c4262e",
  green: "#1e7d32",
  yellow: "#8a6d00",
  blue: "#1f5fbf",
  magenta: "#9c2f9c",
  cyan: "#0f7b83",
  white: "#8c949e",
  brightBlack: "#5c636b",
  brightRed: "#e0434b",
  brightGreen: "#2f9d45",
  brightYellow: "#a98700",
  brightBlue: "#3b82f6",
  brightMagenta: "#b84bb8",
  brightCyan: "#1797a0",
  brightWhite: "#6a727c",
};

const darkTheme: ITheme = {
  background: "#181b20",
  foreground: "#e3e6ea",
  cursor: "#e3e6ea",
  cursorAccent: "#181b20",
  selectionBackground: "#2f4f7a",
  selectionInactiveBackground: "#2b3038",
  black: "#2b3038",
  red: "#f05c5c",
  green: "#3fb950",
  yellow: "#d7a52a",
  blue: "#60a5fa",
  magenta: "#d17bd1",
  cyan: "#39c5cf",
  white: "#c9d1d9",
  brightBlack: "#6e7681",
  brightRed: "#ff7b72",
  brightGreen: "#56d364",
  brightYellow: "#e3b341",
  brightBlue: "#79c0ff",
  brightMagenta: "#e5a0e5",
  brightCyan: "#56d4dd",
  brightWhite: "#ffffff",
};

export function terminalTheme(dark: boolean): ITheme {
  return dark ? darkTheme : lightTheme;
}
