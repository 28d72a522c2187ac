/**
 * Commands: requests to a service to do something, answered with the events it caused or
 * an error. They travel by core NATS request/reply and are never stored themselves.
 */
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { CocalcError, type ErrorPayload } from "./errors.js";

/** A command on the wire. */
export const CommandSchema = Type.Object(
  {
    type: Type.String({ pattern: "^[A-Z][A-Za-z0-9]{0,99}$" }),
    data: Type.Unknown(),
  },
  { additionalProperties: false },
);

/** How one command type is defined. */
export interface CommandDefinition<T extends string = string, S extends TSchema = TSchema> {
  type: T;
  schema: S;
}

/** Declares a command type. */
export function defineCommand<T extends string, S extends TSchema>(
  type: T,
  schema: S,
): CommandDefinition<T, S> {
  return { type, schema };
}

/** A command with metadata that the runtime adds: who sent it and when it arrived. */
export interface Command<T extends string = string, D = unknown> {
  type: T;
  data: D;
  actor: string;
  at: string;
}

/** The command type of a definition. */
export type CommandOf<D> =
  D extends CommandDefinition<infer T, infer S> ? Command<T, Static<S>> : never;

/** The reply to a command. */
export type CommandReply = { ok: true; seqs: number[] } | { ok: false; error: ErrorPayload };

/** Maximum size of a command in bytes. */
export const MAX_COMMAND_BYTES = 256 * 1024;

/** Parses and validates a command of one of `defs`; throws ERR_COMMAND_INVALID / ERR_COMMAND_UNKNOWN. */
export function parseCommand<C extends Command>(
  defs: readonly CommandDefinition[],
  raw: Uint8Array,
  meta: { actor: string; at: string },
): C {
  if (raw.length > MAX_COMMAND_BYTES) {
    throw new CocalcError(
      "ERR_COMMAND_INVALID",
      `command is larger than ${MAX_COMMAND_BYTES} bytes`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new CocalcError("ERR_COMMAND_INVALID", "command is not valid JSON");
  }
  if (!Value.Check(CommandSchema, value)) {
    const err = Value.Errors(CommandSchema, value).First();
    throw new CocalcError(
      "ERR_COMMAND_INVALID",
      `bad command at ${err?.path || "/"}: ${err?.message ?? "invalid"}`,
    );
  }
  const { type, data } = value as { type: string; data: unknown };
  const def = defs.find((d) => d.type === type);
  if (!def) throw new CocalcError("ERR_COMMAND_UNKNOWN", `unknown command ${type}`);
  if (!Value.Check(def.schema, data)) {
    const err = Value.Errors(def.schema, data).First();
    throw new CocalcError(
      "ERR_COMMAND_INVALID",
      `${type} data ${err?.path || "/"}: ${err?.message ?? "invalid"}`,
    );
  }
  return { type, data, ...meta } as C;
}
