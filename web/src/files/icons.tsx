/** Icons of the explorer (24×24 line icons, currentColor), by what an entry is. */
import type { FileEntry } from "../../../shared/files.js";
import { extensionOf } from "../../../shared/files.js";
import { Icon } from "../components/icons.js";

export const FolderIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z" />
  </Icon>
);
export const FileIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z" />
    <path d="M14 3v5h5" />
  </Icon>
);
export const TextFileIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z" />
    <path d="M14 3v5h5M9 13h6M9 17h4" />
  </Icon>
);
export const CodeFileIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z" />
    <path d="M14 3v5h5M10 12l-2 2 2 2M14 12l2 2-2 2" />
  </Icon>
);
export const ImageFileIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <rect x="4" y="4" width="16" height="16" rx="2" />
    <circle cx="9" cy="9" r="1.5" />
    <path d="m20 15-4-4-8 8" />
  </Icon>
);
export const ArchiveFileIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z" />
    <path d="M11 4v2M11 8v2M11 12v2M10 16h2v3h-2z" />
  </Icon>
);
export const LinkBadge = () => (
  <Icon size={10} class="link-badge">
    <path d="M7 17 17 7M9 7h8v8" />
  </Icon>
);
export const HomeIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="m3 11 9-7 9 7M5 10v10h5v-6h4v6h5V10" />
  </Icon>
);
export const UploadIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M12 16V4M7 9l5-5 5 5M5 20h14" />
  </Icon>
);
export const UploadFolderIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z" />
    <path d="M12 16v-6M9.5 12.5 12 10l2.5 2.5" />
  </Icon>
);
export const DownloadIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M12 4v12M7 11l5 5 5-5M5 20h14" />
  </Icon>
);
export const NewFolderIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z" />
    <path d="M12 10v6M9 13h6" />
  </Icon>
);
export const NewFileIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z" />
    <path d="M14 3v5h5M12 11v6M9 14h6" />
  </Icon>
);
export const RefreshIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7" />
  </Icon>
);
export const UpIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M12 19V5M5 12l7-7 7 7" />
  </Icon>
);
export const CloseIcon = (p: { size?: number }) => (
  <Icon size={p.size ?? 14}>
    <path d="M6 6l12 12M18 6 6 18" />
  </Icon>
);
export const WarnIcon = (p: { size?: number }) => (
  <Icon size={p.size}>
    <path d="M12 3 2 20h20zM12 10v4M12 17h.01" />
  </Icon>
);

const CODE = new Set([
  "ts",
  "tsx",
  "js",
  "jsx",
  "py",
  "rs",
  "go",
  "c",
  "h",
  "cpp",
  "java",
  "sh",
  "rb",
  "json",
  "toml",
  "yaml",
  "yml",
  "html",
  "css",
]);
const TEXT = new Set(["txt", "md", "rst", "csv", "log", "tex", "ini", "conf", "cfg"]);
const IMAGE = new Set(["png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico"]);
const ARCHIVE = new Set(["zip", "tar", "gz", "tgz", "bz2", "xz", "zst", "7z"]);

/** What kind of thing an entry is, for its icon and for screen readers. */
export function kindOf(
  entry: FileEntry,
): "folder" | "code" | "text" | "image" | "archive" | "file" {
  if (entry.type === "dir" || entry.link?.type === "dir") return "folder";
  const ext = extensionOf(entry.name);
  if (CODE.has(ext)) return "code";
  if (TEXT.has(ext)) return "text";
  if (IMAGE.has(ext)) return "image";
  if (ARCHIVE.has(ext)) return "archive";
  return "file";
}

export function EntryIcon(props: { entry: FileEntry }) {
  const k = () => kindOf(props.entry);
  return (
    <span class="entry-icon" data-kind={k()}>
      {k() === "folder" ? (
        <FolderIcon />
      ) : k() === "code" ? (
        <CodeFileIcon />
      ) : k() === "text" ? (
        <TextFileIcon />
      ) : k() === "image" ? (
        <ImageFileIcon />
      ) : k() === "archive" ? (
        <ArchiveFileIcon />
      ) : (
        <FileIcon />
      )}
      {props.entry.type === "symlink" && <LinkBadge />}
    </span>
  );
}
