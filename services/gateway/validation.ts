/**
 * Request validation for the gateway's routes, whose schemas are TypeBox's: each schema is
 * compiled on its route's first request instead of while the app is built. fastify's default
 * (ajv) made an ajv instance and compiled every route's schema at every start.
 */
import type { TSchema } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import type { FastifySchemaCompiler } from "fastify";

/** A validator compiler for fastify whose checks compile on first use. */
export const lazyTypeBoxValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  let check: TypeCheck<TSchema> | undefined;
  return (data: unknown) => {
    check ??= TypeCompiler.Compile(schema);
    if (check.Check(data)) return { value: data };
    const first = check.Errors(data).First();
    const where = `${httpPart ?? "body"}${first?.path ?? ""}`;
    return { error: new Error(`${where} ${first?.message ?? "is not valid"}`) };
  };
};
