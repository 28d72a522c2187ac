/**
 * Error messages and events never show where things live on the host (the btrfs mount, a
 * workspace's subvolumes and overlay dirs, the data dir): people see the paths inside their
 * workspace instead, or a plain name for what has none.
 */
import { WORKSPACE_HOME } from "../../shared/launchpad.js";

const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** The rest of a path: up to a space, a quote or a separator of a tool's message. */
const TAIL = "((?:/[^\\s'\"`,:;()]*)?)";
/** Where a path's name ends (so `/mnt/b` is not found in `/mnt/bb`). */
const END = "(?![^/\\s'\"`,:;()])";

/** Inside the workspace: where each part of `workspaces/<wsid>/` is seen. */
const PARTS: [string, (tail: string) => string][] = [
  ["home\\.restoring", () => "(the home being restored)"],
  ["home", (t) => `${WORKSPACE_HOME}${t}`],
  ["scratch", (t) => `/scratch${t}`],
  ["snapshots", (t) => `${WORKSPACE_HOME}/.snapshots${t}`],
  ["rootfs", (t) => t || "(the workspace's root file system)"],
  ["layer/upper", (t) => t || "/"],
  ["layer/work", () => "(the root file system's work dir)"],
  ["layer", () => "(the root file system's layer)"],
  ["container\\.pid", () => "(the container's pid file)"],
  ["info", (t) => `/etc/cocalc${t}`],
];

/** Replaces every host path under `root` (and `dataDir`) in `message` by what people see. */
export function hideHostPaths(message: string, o: { root: string; dataDir?: string }): string {
  const root = literal(o.root.replace(/\/+$/, ""));
  let out = message;
  for (const [part, inside] of PARTS) {
    out = out.replace(
      new RegExp(`${root}/workspaces/[^/\\s'"\`,:;()]+/${part}${END}${TAIL}`, "g"),
      (_m, tail: string) => inside(tail),
    );
  }
  out = out.replace(
    new RegExp(`${root}/images/([^/\\s'"\`,:;()]+)${TAIL}`, "g"),
    (_m, name: string, tail: string) => `image ${name}${tail && ` (${tail})`}`,
  );
  out = out.replace(new RegExp(`${root}${END}${TAIL}`, "g"), "(the host's storage)");
  if (o.dataDir) {
    const data = literal(o.dataDir.replace(/\/+$/, ""));
    out = out.replace(new RegExp(`${data}${END}${TAIL}`, "g"), "(the host's data)");
  }
  return out;
}
