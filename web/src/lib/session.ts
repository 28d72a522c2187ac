/**
 * The browser session. Signing in turns the URL's `?token=` into a credential that lives in
 * this origin's localStorage (an origin includes the port, so no other local server can read
 * it) and that the page sends itself: `Authorization: Bearer …` on requests, a subprotocol on
 * the NATS WebSocket, a signed single-use link where a plain URL must be opened. No cookie.
 */
import { createSignal } from "solid-js";
import { messageOf } from "./delay.js";

export interface Session {
  wsid: string;
  version: string;
  /** Path of the NATS WebSocket on this origin, e.g. "/nats". */
  natsPath: string;
  nats: { user: string; pass: string };
  /** The window title the server asks for (a remote session: its target). */
  title?: string;
  /** This plus is the remote side of a `cocalc-plus ssh` session to this target. */
  remoteOf?: string;
}

export type SessionResult =
  | { ok: true; session: Session }
  | { ok: false; reason: "signed-out"; message?: string }
  | { ok: false; reason: "unavailable"; message: string };

const CREDENTIAL_KEY = "cocalc-plus.credential";
/** What the gateway answers the NATS WebSocket with (services/gateway/nats-proxy.ts). */
const NATS_SUBPROTOCOL = "cocalc.v1";

/** Keeps a credential a sign-in answered with (the hub's sign-in pages). */
export function keepCredential(c: string): void {
  localStorage.setItem(CREDENTIAL_KEY, c);
  setSignedOut(false);
}

/** True when this browser holds a credential (it may still be refused). */
export function hasCredential(): boolean {
  return credential() !== undefined;
}

function credential(): string | undefined {
  try {
    return localStorage.getItem(CREDENTIAL_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function forget(): void {
  try {
    localStorage.removeItem(CREDENTIAL_KEY);
  } catch {
    // storage unavailable: nothing kept
  }
}

const [signedOut, setSignedOut] = createSignal(false);

/** True once the gateway refused this browser's credential (or another tab signed out). */
export { signedOut };

// Another tab of this origin signed out (or in again).
addEventListener("storage", (e) => {
  if (e.key === CREDENTIAL_KEY || e.key === null) {
    if (credential() === undefined) setSignedOut(true);
    else if (signedOut()) location.reload();
  }
});

/** Forgets the credential and shows the page as signed out. */
export function markSignedOut(): void {
  forget();
  setSignedOut(true);
}

/** Headers that authorise a request of this page. */
export function authHeaders(): Record<string, string> {
  const c = credential();
  return c ? { Authorization: `Bearer ${c}` } : {};
}

/** fetch() with this browser's credential; a 401 signs the page out. */
export async function apiFetch(input: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  for (const [k, v] of Object.entries(authHeaders())) headers.set(k, v);
  const res = await fetch(input, { ...init, headers, credentials: "omit" });
  if (res.status === 401) markSignedOut();
  return res;
}

/** A JSON POST with this browser's credential. */
export async function postJson(path: string, body: unknown): Promise<Response> {
  return apiFetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", accept: "application/json" },
    body: JSON.stringify(body),
    cache: "no-store",
  });
}

/** The message of an error answer (`{ code, message }`), or its status in words. */
export async function errorMessage(res: Response): Promise<string> {
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  return body.message ?? `the server answered ${res.status}`;
}

/**
 * When the URL carries `?token=`: takes it out of the URL, and signs in with it unless this
 * browser is signed in already. Never throws; undefined when there was nothing to do or it
 * worked.
 */
export async function signInFromUrl(): Promise<SessionResult | undefined> {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (token === null) return undefined;
  url.searchParams.delete("token");
  try {
    return await signIn(token);
  } finally {
    // Once the credential is kept (or refused): a page that shows its URL without the token
    // is signed in.
    history.replaceState(history.state, "", `${url.pathname}${url.search}${url.hash}`);
  }
}

async function signIn(token: string): Promise<SessionResult | undefined> {
  if (credential() !== undefined) {
    const current = await fetchSession();
    if (current.ok || current.reason === "unavailable") return undefined;
  }
  let res: Response;
  try {
    res = await fetch("/api/auth/sign-in", {
      method: "POST",
      headers: { "Content-Type": "application/json", accept: "application/json" },
      body: JSON.stringify({ token }),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    return { ok: false, reason: "unavailable", message: messageOf(err) };
  }
  if (!res.ok) {
    const message = await errorMessage(res);
    return res.status === 401
      ? { ok: false, reason: "signed-out", message }
      : { ok: false, reason: "unavailable", message };
  }
  const body = (await res.json().catch(() => ({}))) as { credential?: unknown };
  if (typeof body.credential !== "string")
    return { ok: false, reason: "unavailable", message: "sign-in answered an unexpected shape" };
  try {
    localStorage.setItem(CREDENTIAL_KEY, body.credential);
  } catch (err) {
    return {
      ok: false,
      reason: "unavailable",
      message: `this browser does not let the page keep its sign-in: ${messageOf(err)}`,
    };
  }
  setSignedOut(false);
  return undefined;
}

/** Asks the gateway for the session; never throws. */
export async function fetchSession(): Promise<SessionResult> {
  if (credential() === undefined) return { ok: false, reason: "signed-out" };
  let res: Response;
  try {
    res = await apiFetch("/api/session", {
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

/** Signs this browser out, or every browser signed in to this plus. */
export async function signOut(everywhere: boolean): Promise<void> {
  const res = await postJson("/api/auth/sign-out", { everywhere });
  if (!res.ok && res.status !== 401) throw new Error(await errorMessage(res));
  markSignedOut();
}

/** `pathAndQuery` as a link that opens once within a minute, for a download or a new tab. */
export async function signedLink(pathAndQuery: string): Promise<string> {
  const res = await postJson("/api/auth/link", { url: pathAndQuery });
  if (!res.ok) throw new Error(await errorMessage(res));
  const body = (await res.json()) as { url: string };
  return body.url;
}

/** Downloads what a GET of `pathAndQuery` answers, through a signed link. */
export async function downloadThrough(pathAndQuery: string): Promise<void> {
  const a = document.createElement("a");
  a.href = await signedLink(pathAndQuery);
  a.download = "";
  a.rel = "noopener";
  document.body.append(a);
  a.click();
  a.remove();
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

/** Opens the NATS WebSocket with this browser's credential as its subprotocol. */
export async function natsSocket(u: string): Promise<{ socket: WebSocket; encrypted: boolean }> {
  const c = credential();
  if (c === undefined) {
    setSignedOut(true);
    throw new Error("signed out");
  }
  const socket = new WebSocket(u, [NATS_SUBPROTOCOL, `cocalc.auth.${c}`]);
  let opened = false;
  socket.addEventListener("open", () => (opened = true));
  // nats.js redials a refused socket forever; a browser signed out meanwhile (by another
  // browser, or a new token) must hear it: the session request answers 401 and signs out.
  socket.addEventListener("error", () => {
    if (!opened) void fetchSession();
  });
  return { socket, encrypted: u.startsWith("wss:") };
}
