/**
 * The folder picker's view: the subfolders of one directory, a page at a time (a listing
 * puts folders first, so the folders end where the first file is), for the Move and Copy
 * dialogs.
 */
import { type Accessor, batch, createSignal } from "solid-js";
import { type FsRequest, LIST_PAGE_SIZE } from "../../../shared/files.js";
import { displayPath, expandPath, parentOf } from "../../../shared/paths.js";
import { errorPayloadOf, type FsClient, FsError } from "./fs-client.js";

export interface FolderPickerStore {
  /** The folder shown (canonical). */
  readonly dir: Accessor<string>;
  /** Its `~/…` or absolute form. */
  readonly display: Accessor<string>;
  /** Names of the subfolders read so far. */
  readonly folders: Accessor<readonly string[]>;
  /** More subfolders than those read. */
  readonly more: Accessor<boolean>;
  readonly loading: Accessor<boolean>;
  /** Why the folder cannot be shown. */
  readonly error: Accessor<string | undefined>;
  /** Shows folder `path` (`~/…`, absolute, or relative to the one shown). */
  open(path: string): Promise<void>;
  up(): Promise<void>;
  /** Reads the next page of subfolders. */
  loadMore(): Promise<void>;
}

export function createFolderPickerStore(
  fs: FsClient,
  home: string,
  start: string,
  hidden: boolean,
): FolderPickerStore {
  const [dir, setDir] = createSignal(start);
  const [folders, setFolders] = createSignal<readonly string[]>([]);
  const [more, setMore] = createSignal(false);
  const [loading, setLoading] = createSignal(false);
  const [error, setError] = createSignal<string>();
  let cursor: string | undefined;
  let offset = 0;
  let generation = 0;

  const request = (path: string): FsRequest<"list"> => ({
    op: "list",
    path,
    offset,
    limit: LIST_PAGE_SIZE,
    sort: "name",
    desc: false,
    hidden,
    filter: "",
    ...(cursor !== undefined && { cursor }),
  });

  /** Reads the page at `offset`: its folders, and whether folders may follow. */
  async function page(path: string, gen: number): Promise<void> {
    const r = await fs.call(request(path));
    if (gen !== generation) return;
    const names: string[] = [];
    let filesBegan = false;
    for (const e of r.entries) {
      if (e.type === "dir" || e.link?.type === "dir") names.push(e.name);
      else {
        filesBegan = true;
        break;
      }
    }
    offset += r.entries.length;
    cursor = r.cursor;
    batch(() => {
      setDir(r.path);
      setFolders((f) => [...f, ...names]);
      setMore(!filesBegan && offset < r.total);
    });
  }

  async function open(input: string): Promise<void> {
    const gen = ++generation;
    let path: string;
    try {
      path = expandPath(input, home, dir());
    } catch (err) {
      setError((err as Error).message);
      return;
    }
    cursor = undefined;
    offset = 0;
    batch(() => {
      setLoading(true);
      setError(undefined);
      setFolders([]);
      setMore(false);
    });
    try {
      await page(path, gen);
    } catch (err) {
      if (gen !== generation) return;
      batch(() => {
        setDir(path);
        setError(errorPayloadOf(err).message);
      });
    } finally {
      if (gen === generation) setLoading(false);
    }
  }

  void open(start);

  return {
    dir,
    display: () => displayPath(dir(), home),
    folders,
    more,
    loading,
    error,
    open,
    up: () => open(parentOf(dir())),
    async loadMore() {
      if (!more() || loading()) return;
      const gen = generation;
      setLoading(true);
      try {
        await page(dir(), gen);
      } catch (err) {
        // The folder changed since its first page: read it afresh.
        if (err instanceof FsError && err.code === "ERR_FS_CURSOR") return open(dir());
        setError(errorPayloadOf(err).message);
      } finally {
        if (gen === generation) setLoading(false);
      }
    },
  };
}
