/** Relative links and images of a Markdown file, read as paths of its workspace. */
import { expandPath } from "../../../shared/paths.js";

/** The workspace path a link or image URL names, or undefined when it goes elsewhere. */
export function workspacePathOf(
  url: string,
  at: { dir: string; home: string },
): string | undefined {
  const u = url.trim();
  if (u === "" || u.startsWith("#") || u.startsWith("//") || /^[a-z][a-z0-9+.-]*:/i.test(u)) {
    return undefined;
  }
  const bare = u.replace(/[?#].*$/s, "");
  if (bare === "") return undefined;
  try {
    return expandPath(decodeURIComponent(bare), at.home, at.dir);
  } catch {
    return undefined;
  }
}
