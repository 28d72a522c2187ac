/**
 * The event envelope `{ type, v, id, at, actor, data }` and the registry that validates
 * events at the edges and upgrades old versions on read.
 */
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import { randomId } from "./base64url.js";
import { CocalcError } from "./errors.js";
import { sha256 } from "./sha256.js";

const decoder = new TextDecoder();

/** JSON Schema of the envelope; `data` is checked against the event type's own schema. */
export const EnvelopeSchema = Type.Object(
  {
    type: Type.String({ pattern: "^[A-Z][A-Za-z0-9]{0,99}$" }),
    v: Type.Integer({ minimum: 1, maximum: 1000 }),
    id: Type.String({ pattern: "^[A-Za-z0-9_-]{8,64}$" }),
    at: Type.String({ minLength: 20, maxLength: 40 }),
    actor: Type.String({ minLength: 1, maxLength: 200 }),
    data: Type.Unknown(),
  },
  { additionalProperties: false },
);

/** An event as stored on a stream. */
export interface Envelope<T extends string = string, D = unknown> {
  type: T;
  v: number;
  id: string;
  at: string;
  actor: string;
  data: D;
}

/** An event together with what the stream attached on read. */
export interface StoredEvent<E extends Envelope = Envelope> {
  event: E;
  seq: number;
  subject: string;
  time: string;
}

/** How one event type is defined: its current version, data schema and upgraders. */
export interface EventDefinition<T extends string = string, S extends TSchema = TSchema> {
  type: T;
  v: number;
  schema: S;
  /** `upgrades[n]` turns data of version n into data of version n + 1. Pure. */
  upgrades: Readonly<Record<number, (data: unknown) => unknown>>;
}

/** Declares an event type. */
export function defineEvent<T extends string, S extends TSchema>(
  type: T,
  v: number,
  schema: S,
  upgrades: Readonly<Record<number, (data: unknown) => unknown>> = {},
): EventDefinition<T, S> {
  for (let from = 1; from < v; from++) {
    if (!upgrades[from]) throw new Error(`event ${type} v${v} lacks an upgrader from v${from}`);
  }
  return { type, v, schema, upgrades };
}

/** The envelope type of a definition. */
export type EventOf<D> =
  D extends EventDefinition<infer T, infer S> ? Envelope<T, Static<S>> : never;

/** An event type with its data, before it gets an id, time and actor. */
export type Uncommitted<E extends Envelope> =
  E extends Envelope<infer T, infer D> ? { type: T; data: D } : never;

/** Wraps event data into an envelope. `at` comes from the caller so deciders stay pure. */
export function envelope<T extends string, D>(
  def: { type: T; v: number },
  data: D,
  meta: { actor: string; at: Date | string; id?: string },
): Envelope<T, D> {
  return {
    type: def.type,
    v: def.v,
    id: meta.id ?? randomId(),
    at: typeof meta.at === "string" ? meta.at : meta.at.toISOString(),
    actor: meta.actor,
    data,
  };
}

function firstError(schema: TSchema, value: unknown): string {
  const err = Value.Errors(schema, value).First();
  if (!err) return "invalid";
  return `${err.path || "/"}: ${err.message}`;
}

let generatedCode = true;
let aheadOfTime: Readonly<Record<string, (value: unknown) => boolean>> = {};

/**
 * The key of a schema's check compiled ahead of time: a digest of the schema itself, since
 * one event type may have different schemas in different streams (FileWritten of a file
 * event and of a turn log).
 */
export function schemaKey(schema: TSchema): string {
  const digest = sha256(JSON.stringify(schema));
  let hex = "";
  for (const b of digest.subarray(0, 12)) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/**
 * From now on registries generate no code at run time: they use the checks compiled ahead of
 * time (by schemaKey; scripts/gen-checks.ts) and the interpreted check for any schema without
 * one. For the web app, whose content policy allows no eval.
 */
export function useAheadOfTimeChecks(
  compiled: Readonly<Record<string, (value: unknown) => boolean>>,
): void {
  generatedCode = false;
  aheadOfTime = compiled;
}

/** Validates events of a known set of types, upgrading older versions on read. */
export class EventRegistry<E extends Envelope = Envelope> {
  private readonly defs = new Map<string, EventDefinition>();
  private readonly checks = new Map<TSchema, Pick<TypeCheck<TSchema>, "Check">>();

  constructor(defs: readonly EventDefinition[]) {
    for (const d of defs) {
      if (this.defs.has(d.type)) throw new Error(`event type ${d.type} defined twice`);
      this.defs.set(d.type, d);
    }
  }

  /**
   * A schema's check, compiled on first use: a replayed log checks thousands of events, and
   * the interpreted check costs several times the JSON parse (see useAheadOfTimeChecks).
   */
  private checker(schema: TSchema): Pick<TypeCheck<TSchema>, "Check"> {
    let c = this.checks.get(schema);
    if (!c) {
      const compiled = generatedCode ? undefined : aheadOfTime[schemaKey(schema)];
      c = generatedCode
        ? TypeCompiler.Compile(schema)
        : compiled
          ? { Check: (value: unknown): value is unknown => compiled(value) }
          : { Check: (value: unknown): value is unknown => Value.Check(schema, value) };
      this.checks.set(schema, c);
    }
    return c;
  }

  has(type: string): boolean {
    return this.defs.has(type);
  }

  /** Parses raw bytes or a decoded value; throws ERR_EVENT_INVALID / ERR_EVENT_UNKNOWN_TYPE. */
  parse(raw: Uint8Array | string | unknown): E {
    let value: unknown = raw;
    if (raw instanceof Uint8Array || typeof raw === "string") {
      const text = typeof raw === "string" ? raw : decoder.decode(raw);
      try {
        value = JSON.parse(text);
      } catch {
        throw new CocalcError("ERR_EVENT_INVALID", "event is not valid JSON");
      }
    }
    if (!this.checker(EnvelopeSchema).Check(value)) {
      throw new CocalcError(
        "ERR_EVENT_INVALID",
        `bad envelope at ${firstError(EnvelopeSchema, value)}`,
      );
    }
    const env = value as Envelope;
    if (Number.isNaN(Date.parse(env.at))) {
      throw new CocalcError(
        "ERR_EVENT_INVALID",
        `bad envelope at /at: ${JSON.stringify(env.at)} is not a time`,
      );
    }
    const def = this.defs.get(env.type);
    if (!def) throw new CocalcError("ERR_EVENT_UNKNOWN_TYPE", `unknown event type ${env.type}`);
    if (env.v > def.v) {
      throw new CocalcError(
        "ERR_EVENT_UNKNOWN_TYPE",
        `${env.type} v${env.v} is newer than this build (v${def.v})`,
      );
    }
    let data = env.data;
    for (let from = env.v; from < def.v; from++) data = def.upgrades[from]!(data);
    if (!this.checker(def.schema).Check(data)) {
      throw new CocalcError(
        "ERR_EVENT_INVALID",
        `${env.type} data ${firstError(def.schema, data)}`,
      );
    }
    return { ...env, v: def.v, data } as E;
  }

  /** Checks an event before it is published: the same rules as parse, without upgrades. */
  check(event: Envelope): E {
    const def = this.defs.get(event.type);
    if (def && event.v !== def.v) {
      throw new CocalcError("ERR_EVENT_INVALID", `${event.type} must be published as v${def.v}`);
    }
    return this.parse(event);
  }
}

/** Encodes an event for the wire. */
export function encodeEvent(event: Envelope): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(event));
}
