/**
 * Error codes of the whole product. Every code is `ERR_<AREA>_<WHAT>`, carries the HTTP
 * status a gateway answers with, and is documented in docs/errors.md (a test checks that).
 */
export const ErrorCodes = {
  ERR_SUBJECT_TOKEN: {
    status: 400,
    summary: "A subject token is empty, too long, or contains '.', '*', '>' or whitespace.",
  },
  ERR_SUBJECT_PATH: { status: 400, summary: "A path token does not decode to a valid path." },
  ERR_EVENT_INVALID: {
    status: 400,
    summary: "An event does not match the envelope or its data schema.",
  },
  ERR_EVENT_UNKNOWN_TYPE: {
    status: 400,
    summary: "An event type (or version) is not known to this build.",
  },
  ERR_COMMAND_INVALID: {
    status: 400,
    summary: "A command is not valid JSON or does not match its schema.",
  },
  ERR_COMMAND_UNKNOWN: {
    status: 400,
    summary: "A command type is not handled by the service it was sent to.",
  },
  ERR_COMMAND_REJECTED: {
    status: 409,
    summary: "A command is valid but not allowed in the current state.",
  },
  ERR_COMMAND_CONFLICT: {
    status: 409,
    summary: "Concurrent writers kept changing the state; the command was not applied.",
  },
  ERR_COMMAND_TIMEOUT: { status: 504, summary: "The service did not answer the command in time." },
  ERR_SETTINGS_INVALID: {
    status: 400,
    summary: "A workspace setting has a bad value (title, colour, shell, agent defaults).",
  },
  ERR_GATEWAY_HOST: {
    status: 403,
    summary: "The Host header is not one this server answers to (DNS rebinding protection).",
  },
  ERR_GATEWAY_ORIGIN: {
    status: 403,
    summary: "The Origin of a WebSocket or state-changing request is not this server.",
  },
  ERR_GATEWAY_AUTH: {
    status: 401,
    summary: "No valid session: open the URL with ?token= that cocalc-plus printed.",
  },
  ERR_GATEWAY_TOKEN: { status: 401, summary: "The ?token= in the URL is wrong." },
  ERR_GATEWAY_UPSTREAM: { status: 502, summary: "The gateway could not reach nats-server." },
  ERR_GATEWAY_NOT_FOUND: { status: 404, summary: "No such route." },
  ERR_CLI_USAGE: { status: 400, summary: "Unknown flag or bad flag value (exit code 2)." },
  ERR_DATA_DIR_LOCKED: {
    status: 409,
    summary: "Another cocalc-plus is running on the same data directory.",
  },
  ERR_NATS_SERVER_MISSING: {
    status: 500,
    summary: "No nats-server binary was found (--nats-server, COCALC_NATS_SERVER or PATH).",
  },
  ERR_NATS_SERVER_START: {
    status: 500,
    summary: "nats-server did not start or did not become ready.",
  },
} as const;

/** Every error code the product can report. */
export type ErrorCode = keyof typeof ErrorCodes;

/** An expected failure with a stable code; anything else thrown is a bug. */
export class CocalcError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "CocalcError";
    this.code = code;
    this.status = ErrorCodes[code].status;
    if (details !== undefined) this.details = details;
  }
}

/** The wire form of an error, as sent in replies and HTTP bodies. */
export interface ErrorPayload {
  code: ErrorCode | "ERR_INTERNAL";
  message: string;
  details?: Record<string, unknown>;
}

/** Turns anything thrown into its wire form; unexpected errors become ERR_INTERNAL. */
export function toErrorPayload(err: unknown): ErrorPayload {
  if (err instanceof CocalcError) {
    return err.details === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details: err.details };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: "ERR_INTERNAL", message };
}

/** Rebuilds a CocalcError from its wire form (the inverse of toErrorPayload). */
export function fromErrorPayload(payload: ErrorPayload): Error {
  if (payload.code !== "ERR_INTERNAL" && payload.code in ErrorCodes) {
    return new CocalcError(payload.code, payload.message, payload.details);
  }
  return new Error(payload.message);
}
