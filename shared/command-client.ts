/**
 * The one client for request/reply with the product's services: send a request, read the
 * reply `{ ok: true, ... } | { ok: false, error: { code, message } }`, and turn an error reply
 * into a coded error. Transport (a NATS connection, the page's connection) comes from the caller.
 */
import type { CommandReply } from "./commands.js";
import { type ErrorPayload, fromErrorPayload } from "./errors.js";

/** A reply: ok with the answer's fields, or an error with its code. */
export type Reply<T extends object = object> =
  | ({ ok: true } & T)
  | { ok: false; error: ErrorPayload };

/** What sending a request needs; a NATS connection is one. */
export interface RequestSender {
  request(
    subject: string,
    payload: string,
    opts: { timeout: number },
  ): Promise<{ string(): string }>;
}

export interface RequestOptions<T extends object> {
  timeoutMs: number;
  /** What a request that got no reply (nobody listens, timeout) throws; default: its own error. */
  unanswered?: (err: unknown) => unknown;
  /** Whether an ok reply has the fields it must have (else it is an ERR_INTERNAL reply). */
  isAnswer?: (reply: { ok: true }) => reply is { ok: true } & T;
}

/** Reads a reply's text; anything that is not a reply becomes an ERR_INTERNAL error reply. */
export function parseReply<T extends object>(
  text: string,
  isAnswer?: RequestOptions<T>["isAnswer"],
): Reply<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: { code: "ERR_INTERNAL", message: "the reply is not JSON" } };
  }
  const reply = (typeof value === "object" && value !== null ? value : {}) as Reply<T>;
  if (reply.ok === true && (!isAnswer || isAnswer(reply))) return reply;
  if (reply.ok === false && typeof reply.error?.message === "string") return reply;
  return {
    ok: false,
    error: { code: "ERR_INTERNAL", message: "the reply has an unexpected shape" },
  };
}

/**
 * Sends `body` to `subject` (a value as JSON; a string as it is, already JSON) and returns its
 * reply, an error reply included.
 */
export async function requestReply<T extends object>(
  sender: RequestSender,
  subject: string,
  body: object | string,
  o: RequestOptions<T>,
): Promise<Reply<T>> {
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  let text: string;
  try {
    text = (await sender.request(subject, payload, { timeout: o.timeoutMs })).string();
  } catch (err) {
    throw o.unanswered ? o.unanswered(err) : err;
  }
  return parseReply(text, o.isAnswer);
}

/**
 * Sends `body` to `subject` and returns the answer; an error reply is thrown as `refused`
 * makes it (default: a CocalcError with the reply's code and message, see fromErrorPayload).
 */
export async function request<T extends object>(
  sender: RequestSender,
  subject: string,
  body: object | string,
  o: RequestOptions<T> & { refused?: (error: ErrorPayload) => unknown },
): Promise<{ ok: true } & T> {
  const reply = await requestReply(sender, subject, body, o);
  if (reply.ok) return reply;
  throw (o.refused ?? fromErrorPayload)(reply.error);
}

/** An error reply in one line, as the command line says it: "message (CODE)". */
export function errorText(error: ErrorPayload): string {
  return `${error.message} (${error.code})`;
}

/** True for a command's ok reply: it lists the sequences of the events it caused. */
export function isCommandAnswer(reply: { ok: true }): reply is CommandReply & { ok: true } {
  return Array.isArray((reply as { seqs?: unknown }).seqs);
}

/** Sends a command (`{ type, data }`, or its JSON text) and returns its reply, a refusal included. */
export function commandReply(
  sender: RequestSender,
  subject: string,
  command: { type: string; data: unknown } | string,
  o: Omit<RequestOptions<{ seqs: number[] }>, "isAnswer">,
): Promise<CommandReply> {
  return requestReply(sender, subject, command, { ...o, isAnswer: isCommandAnswer });
}
