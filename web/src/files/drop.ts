/**
 * What a drop (or a file picker) holds: files with their paths relative to the drop, and
 * the folders, so a dropped folder is recreated with its tree (empty folders included).
 */

export interface PickedFile {
  file: File;
  /** `a.txt`, or `folder/sub/a.txt` inside a dropped folder. */
  path: string;
}

export interface Picked {
  files: PickedFile[];
  /** Every folder, as a relative path (`folder`, `folder/sub`). */
  folders: string[];
}

function readAll(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => {
    const out: FileSystemEntry[] = [];
    // readEntries returns at most 100 at a time; an empty batch means the end.
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(out);
        else {
          out.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, prefix: string, into: Picked): Promise<void> {
  const path = prefix ? `${prefix}/${entry.name}` : entry.name;
  if (entry.isFile) {
    into.files.push({ file: await fileOf(entry as FileSystemFileEntry), path });
  } else if (entry.isDirectory) {
    into.folders.push(path);
    const children = await readAll((entry as FileSystemDirectoryEntry).createReader());
    for (const child of children) await walk(child, path, into);
  }
}

/**
 * The contents of a drop. Must be called during the drop event: the entries are taken
 * synchronously, then read. Browsers that give no entries fall back to the file list, where
 * `webkitRelativePath` (when set) keeps folder structure.
 */
export function pickedFromDataTransfer(dt: DataTransfer): Promise<Picked> {
  const entries: FileSystemEntry[] = [];
  let complete = true;
  for (const item of Array.from(dt.items ?? [])) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry?.() ?? null;
    if (entry) entries.push(entry);
    else complete = false;
  }
  const files = Array.from(dt.files ?? []);
  if (!complete || entries.length === 0) return Promise.resolve(pickedFromFiles(files));
  return (async () => {
    const picked: Picked = { files: [], folders: [] };
    for (const e of entries) await walk(e, "", picked);
    return picked;
  })();
}

/** Files from an <input type=file> (with `webkitdirectory`, paths carry the folders). */
export function pickedFromFiles(files: readonly File[]): Picked {
  const picked: Picked = { files: [], folders: [] };
  const folders = new Set<string>();
  for (const file of files) {
    const rel = (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name;
    const parts = rel.split("/").filter((p) => p !== "");
    for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join("/"));
    picked.files.push({ file, path: parts.join("/") || file.name });
  }
  picked.folders = [...folders];
  return picked;
}

/** True when a drag carries files (not text or a link). */
export function dragHasFiles(dt: DataTransfer | null): boolean {
  return !!dt && Array.from(dt.types ?? []).includes("Files");
}
