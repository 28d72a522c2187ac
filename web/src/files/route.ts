/**
 * The address bar: which file or directory is open. URLs are `/files/<path relative to
 * home>` and `/fs/<absolute path>` (shared/paths.ts); the hash keeps naming the tab
 * (tabs.tsx), so a path and a tab live side by side: `/files/src#terminals`.
 */
import { fileUrl, pathOfUrl } from "../../../shared/paths.js";

/** Where the workspace's addresses start: "" on plus, `/ws/<wsid>` on the hub. */
let base = "";

/** Sets where the workspace's addresses start (once, before the workspace is shown). */
export function setRouteBase(prefix: string): void {
  base = prefix.replace(/\/+$/, "");
}

/** The path the address bar names, or undefined (e.g. `/`). */
export function pathInAddressBar(home: string): string | undefined {
  const path = location.pathname;
  if (base === "") return pathOfUrl(path, home);
  if (path !== base && !path.startsWith(`${base}/`)) return undefined;
  return pathOfUrl(path.slice(base.length) || "/", home);
}

/** The canonical URL of `abs`, keeping the hash (the tab) unless one is given. */
export function urlOf(abs: string, home: string, hash = location.hash): string {
  return `${base}${fileUrl(abs, home)}${hash}`;
}

function current(): string {
  return `${location.pathname}${location.search}${location.hash}`;
}

/** A new history entry (back returns to where we were). */
export function pushUrl(url: string): void {
  if (url !== current()) history.pushState(null, "", url);
}

/** The same history entry, corrected (e.g. a symlink's path replaced by the canonical one). */
export function replaceUrl(url: string): void {
  if (url !== current()) history.replaceState(null, "", url);
}

/** Shows a tab of the shell: the tab router follows the hash. */
export function showTab(id: string): void {
  // Already there ("#agents/<thread>" shows the agents tab too): what it shows stays.
  if (location.hash.replace(/^#\/?/, "").split("/")[0] === id) return;
  history.replaceState(null, "", `${location.pathname}${location.search}#${id}`);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}
