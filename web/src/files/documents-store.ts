/**
 * Open files, shown in the Editor tab: `open` is the one entry point every "open file"
 * action goes through, and each open file is a tab that can always be closed, whatever
 * state it is in. The editor of each document opens it with the docs service itself. The
 * open tabs and the active one survive a reload of the page: they are kept in the browser
 * tab's sessionStorage (per workspace), so two browser tabs keep their own.
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

/** The open tabs as kept: their paths in order and the active one. */
interface KeptTabs {
  paths: string[];
  active?: string;
}

/** Most tabs kept across a reload. */
const MAX_KEPT = 100;

function keptTabs(key: string): KeptTabs {
  try {
    const v = JSON.parse(sessionStorage.getItem(key) ?? "{}") as Partial<KeptTabs>;
    const paths = Array.isArray(v.paths)
      ? v.paths.filter((p): p is string => typeof p === "string" && p.startsWith("/"))
      : [];
    const active = typeof v.active === "string" && paths.includes(v.active) ? v.active : undefined;
    return { paths: paths.slice(0, MAX_KEPT), ...(active && { active }) };
  } catch {
    return { paths: [] };
  }
}

/**
 * `recentKey`: where this workspace's recent files are kept (localStorage); `tabsKey`: where
 * its open tabs are kept for a reload (sessionStorage).
 */
export function createDocumentsStore(
  _fs: FsClient,
  recentKey: string,
  tabsKey: string,
): DocumentsStore {
  const kept = keptTabs(tabsKey);
  const [docs, setDocs] = createStore<OpenDocument[]>(
    kept.paths.map((path) => ({ path, name: nameOf(path) || "/", status: "ready" })),
  );
  const [active, setActiveSignal] = createSignal<string | undefined>(kept.active);
  const keep = () => {
    try {
      const next: KeptTabs = { paths: docs.map((d) => d.path).slice(0, MAX_KEPT) };
      const a = active();
      if (a) next.active = a;
      sessionStorage.setItem(tabsKey, JSON.stringify(next));
    } catch {
      // storage refused: the tabs are not kept across a reload
    }
  };
  const setActive = (path: string | undefined) => {
    setActiveSignal(path);
    keep();
  };
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
        keep();
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
      else keep();
      return active();
    },
    reload: (path) => load(path),
  };
}
