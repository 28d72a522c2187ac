/**
 * One conflict of a pair: which version is at the path and where the other is kept, the two
 * compared line by line (both are files here once the next cycle brought the copy across),
 * and the ways to settle it: keep this machine's, the remote's, or both files; or open both
 * in the editor to merge by hand (then keep both, or delete the copy).
 */
import { createSignal, For, Show } from "solid-js";
import type { ConflictKeep, SyncConflictInfo, SyncPairView } from "../../../shared/sync.js";
import { LineDiffView } from "../components/line-diff.js";
import { useFiles } from "../files/files-store.js";
import { lineDiff } from "../lib/line-diff.js";
import type { SyncStore } from "./sync-store.js";

/** The absolute local path of `rel` in a pair (its root relative to home, or absolute). */
function localPath(root: string, home: string, rel: string): string {
  const base = root.startsWith("/") ? root : `${home.replace(/\/+$/, "")}/${root}`;
  return `${base}/${rel}`;
}

const KEEP_LABEL: Record<ConflictKeep, string> = {
  local: "this machine's version",
  remote: "the remote's version",
  both: "both files",
};

export function ConflictItem(props: {
  pair: SyncPairView;
  conflict: SyncConflictInfo;
  store: SyncStore;
}) {
  const files = useFiles();
  const c = () => props.conflict;
  const loser = () => (c().winner === "local" ? "remote" : "local");
  const [diff, setDiff] = createSignal<
    { lines: ReturnType<typeof lineDiff> } | { problem: string } | undefined
  >();
  const [asked, setAsked] = createSignal<string>();
  const paths = () => {
    const home = files.session()?.home ?? "";
    return {
      at: localPath(props.pair.local, home, c().path),
      copy: localPath(props.pair.local, home, c().keptAs),
    };
  };
  const compare = async () => {
    if (diff()) return setDiff(undefined);
    const fs = files.session()?.fs;
    if (!fs) return setDiff({ problem: "the files service is not connected" });
    try {
      const [at, copy] = await Promise.all([
        fs.call({ op: "read", path: paths().at, maxBytes: 256 * 1024 }),
        fs.call({ op: "read", path: paths().copy, maxBytes: 256 * 1024 }),
      ]);
      if (at.binary || copy.binary) return setDiff({ problem: "binary files: not compared" });
      // Lines only in the copy are the losing side's: shown as added to the version at the path.
      setDiff({ lines: lineDiff(at.content, copy.content) });
    } catch (err) {
      const gone = /ERR_FS_NOT_FOUND|no such|not found/i.test((err as Error).message);
      setDiff({
        problem: gone
          ? "the kept copy is not on this machine yet (the next cycle brings it across)"
          : (err as Error).message,
      });
    }
  };
  const settle = async (keep: ConflictKeep) => {
    const r = await props.store.resolve(props.pair.pair, c().path, c().keptAs, keep);
    setAsked(r.ok ? undefined : r.error.message);
  };
  return (
    <li class="sync-conflict" data-testid="sync-conflict" data-path={c().path}>
      <div>
        <code>{c().path}</code>: {c().winner === "local" ? "this machine's" : "the remote's"}{" "}
        version; {loser() === "local" ? "this machine's" : "the remote's"} is kept as{" "}
        <code>{c().keptAs}</code>
      </div>
      <div class="sync-conflict-actions">
        <button type="button" class="sync-link" data-testid="conflict-compare" onClick={compare}>
          {diff() ? "Hide comparison" : "Compare"}
        </button>
        <button
          type="button"
          class="sync-link"
          data-testid="conflict-open"
          onClick={() => {
            const s = files.session();
            if (!s) return;
            void s.openAt(paths().at).then(() => s.openAt(paths().copy));
          }}
        >
          Open both
        </button>
        <span class="sync-conflict-keep">Keep:</span>
        <For each={["local", "remote", "both"] as const}>
          {(keep) => (
            <button
              type="button"
              class="button"
              data-testid={`conflict-keep-${keep}`}
              disabled={c().resolving !== undefined}
              onClick={() => void settle(keep)}
            >
              {KEEP_LABEL[keep]}
            </button>
          )}
        </For>
      </div>
      <Show when={c().resolving}>
        {(keep) => (
          <p class="sync-meta" data-testid="conflict-resolving">
            Keeping {KEEP_LABEL[keep()]}…
          </p>
        )}
      </Show>
      <Show when={asked() ?? c().error}>
        {(why) => (
          <p class="sync-error" role="alert" data-testid="conflict-error">
            {why()}
          </p>
        )}
      </Show>
      <Show when={diff()}>
        {(d) => (
          <Show
            when={
              "lines" in d() ? (d() as { lines: ReturnType<typeof lineDiff> }).lines : undefined
            }
            fallback={<p class="sync-meta">{(d() as { problem: string }).problem}</p>}
          >
            {(lines) => (
              <>
                <p class="sync-meta">
                  − {c().winner === "local" ? "this machine's" : "the remote's"} (at the path) · +{" "}
                  {loser() === "local" ? "this machine's" : "the remote's"} (the kept copy)
                </p>
                <LineDiffView lines={lines()} class="sync-diff" testid="conflict-diff" />
              </>
            )}
          </Show>
        )}
      </Show>
    </li>
  );
}
