/**
 * What every gateway starts from, plus's and the hub's: fastify without request logging,
 * no proxy trust (unless the hub's operator names the proxies in front of it), a 1 MiB body limit, and errors answered as `{ code, message }` (a
 * CocalcError with its status; anything else logged and answered as ERR_INTERNAL).
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import { CocalcError, toErrorPayload } from "../../shared/errors.js";
import type { Logger } from "../runtime/logger.js";

export function gatewayBase(
  log: Logger,
  tls?: { cert: string; key: string },
  /** Addresses (or CIDR ranges) whose X-Forwarded-For names the client (request.ip). */
  trustedProxies: readonly string[] = [],
): FastifyInstance {
  const app = Fastify({
    ...(tls && { https: { cert: tls.cert, key: tls.key } }),
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: trustedProxies.length > 0 ? [...trustedProxies] : false,
    bodyLimit: 1024 * 1024,
    // The routes' schemas are TypeBox's, valid by construction: checking each against the JSON
    // Schema meta-schema made ajv compile that first, about 10 ms of every start.
    ajv: { customOptions: { validateSchema: false } },
  }) as unknown as FastifyInstance;
  app.setErrorHandler((err, request, reply) => {
    const payload = toErrorPayload(err);
    if (err instanceof CocalcError) return reply.code(err.status).send(payload);
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500)
      return reply.code(status).send({ code: "ERR_INTERNAL", message: (err as Error).message });
    request.log.error({ err }, "request failed");
    return reply.code(500).send(payload);
  });
  return app;
}
