/** The browser session: what GET /api/session tells the page after the cookie login. */
import { messageOf } from "./delay.js";

export interface Session {
  wsid: string;
  version: string;
  /** Path of the NATS WebSocket on this origin, e.g. "/nats". */
  natsPath: string;
  nats: { user: string; pass: string };
  /** The window title the server asks for (a remote session: its target). */
  title?: string;
}

export type SessionResult =
  | { ok: true; session: Session }
  | { ok: false; reason: "signed-out" }
  | { ok: false; reason: "unavailable"; message: string };

/** Asks the gateway for the session; never throws. */
export async function fetchSession(): Promise<SessionResult> {
  let res: Response;
  try {
    res = await fetch("/api/session", {
      credentials: "same-origin",
      cache: "no-store",
      headers: { accept: "application/json" },
    });
  } catch (err) {
    return { ok: false, reason: "unavailable", message: messageOf(err) };
  }
  if (res.status === 401) return { ok: false, reason: "signed-out" };
  if (!res.ok) {
    return { ok: false, reason: "unavailable", message: `/api/session answered ${res.status}` };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return { ok: false, reason: "unavailable", message: "/api/session did not answer JSON" };
  }
  if (!isSession(body)) {
    return {
      ok: false,
      reason: "unavailable",
      message: "/api/session answered an unexpected shape",
    };
  }
  return { ok: true, session: body };
}

function isSession(v: unknown): v is Session {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  const nats = s.nats as Record<string, unknown> | null | undefined;
  return (
    typeof s.wsid === "string" &&
    typeof s.version === "string" &&
    typeof s.natsPath === "string" &&
    s.natsPath.startsWith("/") &&
    typeof nats === "object" &&
    nats !== null &&
    typeof nats.user === "string" &&
    typeof nats.pass === "string"
  );
}

/** The WebSocket URL of NATS on this origin. */
export function natsUrl(natsPath: string): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${natsPath}`;
}
