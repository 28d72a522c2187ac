/**
 * Where a workspace's uploads and downloads go over HTTP: plus's own gateway, or, for a
 * workspace opened through the hub, the hub's routes for it (which carry the bytes over NATS
 * to its host). The same requests and answers either way.
 */
import type { WorkspaceConnection } from "./connection.js";

export interface FileRoutes {
  /** `PUT ?dir=&name=&conflict=`: answers 201 with where the file ended up. */
  upload: string;
  /** `GET ?path=`: a file (Range allowed) or a folder as tar. */
  download: string;
}

export function fileRoutes(conn: Pick<WorkspaceConnection, "wsid" | "hosted">): FileRoutes {
  if (!conn.hosted) return { upload: "/api/files/upload", download: "/api/files/download" };
  const ws = `/api/hub/ws/${encodeURIComponent(conn.wsid)}/files`;
  return { upload: `${ws}/upload`, download: `${ws}/download` };
}
