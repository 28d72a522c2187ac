/**
 * Uploads: each file is one streamed HTTP PUT with its own progress and cancel. Before
 * anything is sent, names that already exist in the target are found and the user decides
 * per item: replace, keep both, or skip. A few uploads run at a time; the rest wait.
 */
import { type Accessor, createSignal } from "solid-js";
import { createStore, produce } from "solid-js/store";
import { randomId } from "../../../shared/base64url.js";
import { nextFreeName } from "../../../shared/files.js";
import { joinPath } from "../../../shared/paths.js";
import { authHeaders } from "../lib/session.js";
import type { Picked } from "./drop.js";
import { errorPayloadOf, type FsClient } from "./fs-client.js";

const PARALLEL = 3;

export type UploadStatus = "queued" | "uploading" | "done" | "error" | "cancelled";

export interface UploadItem {
  id: string;
  /** Target directory (canonical). */
  dir: string;
  /** Path below the target: `a.txt` or `folder/sub/a.txt`. */
  path: string;
  size: number;
  loaded: number;
  status: UploadStatus;
  conflict: "fail" | "replace" | "rename";
  error?: string;
  /** The error's code (ERR_FS_NAME, ERR_FS_EXISTS…), when the server gave one. */
  code?: string;
  /** Where it ended up (when done). */
  result?: string;
}

export type ConflictChoice = "replace" | "keep" | "skip";

export interface ConflictQuestion {
  name: string;
  folder: boolean;
  dir: string;
  /** How many more clashes follow this one. */
  remaining: number;
  answer(choice: ConflictChoice, forAll: boolean): void;
}

export interface UploadsStore {
  readonly items: readonly UploadItem[];
  /** The clash the user is asked about now, if any. */
  readonly question: Accessor<ConflictQuestion | undefined>;
  /** Uploads `picked` into `dir`, asking about clashes first. */
  upload(dir: string, picked: Picked): Promise<void>;
  cancel(id: string): void;
  /** Forgets finished, failed and cancelled uploads. */
  clearFinished(): void;
  stop(): void;
}

export function createUploadsStore(
  fs: FsClient,
  hooks: { uploaded(dir: string): void },
  /** Where uploads go (lib/file-routes.ts). */
  uploadUrl: string,
): UploadsStore {
  const [items, setItems] = createStore<UploadItem[]>([]);
  const [question, setQuestion] = createSignal<ConflictQuestion>();
  const files = new Map<string, File>();
  const requests = new Map<string, XMLHttpRequest>();

  const patch = (id: string, change: Partial<UploadItem>) =>
    setItems(
      (u) => u.id === id,
      produce((u) => Object.assign(u, change)),
    );

  function pump() {
    const running = items.filter((u) => u.status === "uploading").length;
    for (const u of items.filter((x) => x.status === "queued").slice(0, PARALLEL - running)) {
      start(u.id);
    }
  }

  function start(id: string) {
    const u = items.find((x) => x.id === id);
    const file = files.get(id);
    if (!u || !file) return;
    const xhr = new XMLHttpRequest();
    requests.set(id, xhr);
    const q = new URLSearchParams({ dir: u.dir, name: u.path, conflict: u.conflict });
    xhr.open("PUT", `${uploadUrl}?${q}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => patch(id, { loaded: e.loaded });
    const finish = (change: Partial<UploadItem>) => {
      requests.delete(id);
      files.delete(id);
      patch(id, change);
      if (change.status === "done") hooks.uploaded(u.dir);
      pump();
    };
    xhr.onload = () => {
      let body: { code?: string; message?: string; path?: string } = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {}
      if (xhr.status === 201) finish({ status: "done", loaded: u.size, result: body.path });
      else
        finish({
          status: "error",
          error: body.message ?? `the server answered ${xhr.status}`,
          ...(body.code !== undefined && { code: body.code }),
        });
    };
    xhr.onerror = () => finish({ status: "error", error: "the connection failed" });
    xhr.onabort = () => finish({ status: "cancelled" });
    patch(id, { status: "uploading" });
    xhr.send(file);
  }

  /** Asks about each clash; "for all" answers the rest the same way. */
  async function decide(dir: string, clashes: { name: string; folder: boolean }[]) {
    const choices = new Map<string, ConflictChoice>();
    let forAll: ConflictChoice | undefined;
    for (let i = 0; i < clashes.length; i++) {
      const c = clashes[i]!;
      if (forAll) {
        choices.set(c.name, forAll);
        continue;
      }
      const [choice, all] = await new Promise<[ConflictChoice, boolean]>((resolve) =>
        setQuestion({
          name: c.name,
          folder: c.folder,
          dir,
          remaining: clashes.length - i - 1,
          answer: (ch, a) => resolve([ch, a]),
        }),
      );
      setQuestion(undefined);
      choices.set(c.name, choice);
      if (all) forAll = choice;
    }
    return choices;
  }

  async function freeFolderName(dir: string, name: string): Promise<string> {
    const taken = new Set<string>([name]);
    for (;;) {
      const candidate = nextFreeName(name, (n) => taken.has(n));
      const { existing } = await fs.call({ op: "exists", dir, names: [candidate] });
      if (existing.length === 0) return candidate;
      taken.add(candidate);
    }
  }

  return {
    items,
    question,
    async upload(dir, picked) {
      const top = (p: string) => p.split("/")[0]!;
      const roots = [
        ...new Set([...picked.files.map((f) => top(f.path)), ...picked.folders.map(top)]),
      ];
      if (roots.length === 0) return;
      const isFolder = new Set(picked.folders.map(top));
      for (const f of picked.files) if (f.path.includes("/")) isFolder.add(top(f.path));
      let existing: string[] = [];
      try {
        ({ existing } = await fs.call({ op: "exists", dir, names: roots }));
      } catch (err) {
        // Cannot look: upload anyway, the server refuses clashes one by one.
        existing = [];
        console.warn("upload: could not check for existing names", errorPayloadOf(err).message);
      }
      const choices = await decide(
        dir,
        existing.map((name) => ({ name, folder: isFolder.has(name) })),
      );
      const renamed = new Map<string, string>();
      for (const [name, choice] of choices) {
        if (choice === "keep" && isFolder.has(name))
          renamed.set(name, await freeFolderName(dir, name));
      }
      const rewrite = (p: string) => {
        const r = renamed.get(top(p));
        return r === undefined ? p : `${r}${p.slice(top(p).length)}`;
      };
      // Folders with no files in them still have to exist afterwards.
      const withFiles = new Set(
        picked.files.flatMap((f) => {
          const parts = f.path.split("/");
          return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join("/"));
        }),
      );
      for (const folder of picked.folders) {
        if (choices.get(top(folder)) === "skip" || withFiles.has(folder)) continue;
        try {
          await fs.call({ op: "mkdir", path: joinPath(dir, rewrite(folder)), parents: true });
        } catch (err) {
          console.warn("upload: folder not created", errorPayloadOf(err).message);
        }
      }
      const added: UploadItem[] = [];
      for (const { file, path } of picked.files) {
        const choice = choices.get(top(path));
        if (choice === "skip") continue;
        const folder = path.includes("/");
        const id = randomId();
        files.set(id, file);
        added.push({
          id,
          dir,
          path: rewrite(path),
          size: file.size,
          loaded: 0,
          status: "queued",
          conflict:
            choice === "replace" ? "replace" : choice === "keep" && !folder ? "rename" : "fail",
        });
      }
      setItems((list) => [...list, ...added]);
      pump();
    },
    cancel(id) {
      const xhr = requests.get(id);
      if (xhr) xhr.abort();
      else {
        files.delete(id);
        patch(id, { status: "cancelled" });
      }
    },
    clearFinished() {
      setItems((list) => list.filter((u) => u.status === "queued" || u.status === "uploading"));
    },
    stop() {
      for (const xhr of requests.values()) xhr.abort();
      requests.clear();
      files.clear();
      question()?.answer("skip", true);
    },
  };
}
