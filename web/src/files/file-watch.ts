/**
 * Telling a viewer that its file changed on disk (a LaTeX build rewrote the PDF, a program
 * appended to a log): a lease on the live watch of the file's directory, held under the
 * watcher's own client id so that ending it never ends the explorer's watch of the same
 * directory, and the change feed filtered to the file's name.
 */
import { randomId } from "../../../shared/base64url.js";
import { WATCH_LEASE_MS } from "../../../shared/files.js";
import { nameOf, parentOf } from "../../../shared/paths.js";
import type { FsClient } from "./fs-client.js";

/** Calls `changed` whenever `path` may have changed; returns the stop. */
export function watchFile(fs: FsClient, path: string, changed: () => void): () => void {
  const client = randomId();
  const dir = parentOf(path);
  const name = nameOf(path);
  let stopped = false;
  const lease = (first: boolean) =>
    fs.call({ op: "watch", path: dir, client }).then(
      (r) => {
        // The service started anew and did not hold the lease: a change may have gone unheard.
        if (!first && !r.renewed && !stopped) changed();
      },
      () => undefined,
    );
  void lease(true);
  const renew = setInterval(() => void lease(false), WATCH_LEASE_MS / 3);
  const offChange = fs.onChange((c) => {
    if (c.dir === dir && (c.names === null || c.names.includes(name))) changed();
  });
  const offReconnect = fs.onReconnect(() => {
    void lease(true);
    changed();
  });
  return () => {
    stopped = true;
    clearInterval(renew);
    offChange();
    offReconnect();
    void fs.call({ op: "unwatch", path: dir, client }).catch(() => undefined);
  };
}
