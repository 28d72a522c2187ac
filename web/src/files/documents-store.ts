/**
 * Open files, shown in the Editor tab: `open` is the one entry point every "open file"
 * action goes through, and each open file is a tab that can always be closed, whatever
 * state it is in. The editor of each document opens it with the docs service itself.
 */
import { type Accessor, createSignal } from "solid-js";
import { createStore, produce } from "solid-js/store";
import type { ErrorPayload } from "../../../shared/errors.js";
import type { ReadResult } from "../../../shared/files.js";
import { nameOf } from "../../../shared/paths.js";
import type { FsClient } from "./fs-client.js";

/** How much of a file the preview shows. */
export const PREVIEW_BYTES = 256 * 1024;

export interface OpenDocument {
  /** Canonical path: the document's identity. */
  path: string;
  name: string;
  status: "loading" | "ready" | "error";
  content?: ReadResult;
  error?: ErrorPayload;
  /** A line to show (search results, quick open with `:line`); `seq` tells asks apart. */
  goto?: { line: number; seq: number };
}

/** Recently opened files kept for quick open. */
const MAX_RECENT = 50;

export interface DocumentsStore {
  readonly docs: readonly OpenDocument[];
  readonly active: Accessor<string | undefined>;
  /** Opens (or shows again) the file at canonical `path` and makes it active (at `line`). */
  open(path: string, line?: number): void;
  /** Files opened on this page and before (kept per workspace), the latest first. */
  readonly recent: Accessor<readonly string[]>;
  activate(path: string): void;
  /** Closes a document; returns the one now active. */
  close(path: string): string | undefined;
  reload(path: string): void;
}

function storedRecent(key: string): string[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(key) ?? "[]");
    return Array.isArray(v) ? v.filter((p): p is string => typeof p === "string") : [];
  } catch {
    return [];
  }
}

/** `recentKey`: where this workspace's recent files are kept (localStorage). */
export function createDocumentsStore(_fs: FsClient, recentKey: string): DocumentsStore {
  const [docs, setDocs] = createStore<OpenDocument[]>([]);
  const [active, setActive] = createSignal<string>();
  const [recent, setRecent] = createSignal<readonly string[]>(storedRecent(recentKey));
  let seq = 0;
  const remember = (path: string) => {
    const next = [path, ...recent().filter((p) => p !== path)].slice(0, MAX_RECENT);
    setRecent(next);
    try {
      localStorage.setItem(recentKey, JSON.stringify(next));
    } catch {
      // private mode: not kept across reloads
    }
  };

  const patch = (path: string, change: Partial<OpenDocument>) =>
    setDocs(
      (d) => d.path === path,
      produce((d) => Object.assign(d, change)),
    );

  function load(path: string) {
    patch(path, { status: "ready", error: undefined });
  }

  return {
    docs,
    active,
    recent,
    open(path, line) {
      if (!docs.some((d) => d.path === path)) {
        setDocs((list) => [...list, { path, name: nameOf(path) || "/", status: "ready" }]);
      }
      if (line !== undefined) patch(path, { goto: { line, seq: ++seq } });
      setActive(path);
      remember(path);
    },
    activate: (path) => setActive(path),
    close(path) {
      const i = docs.findIndex((d) => d.path === path);
      if (i === -1) return active();
      setDocs((list) => list.filter((d) => d.path !== path));
      if (active() === path) setActive(docs[Math.min(i, docs.length - 1)]?.path);
      return active();
    },
    reload: (path) => load(path),
  };
}
