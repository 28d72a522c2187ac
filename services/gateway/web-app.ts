/**
 * The web app: static assets, and index.html for every page path (deep links), each copy with
 * a fresh style nonce in its content policy and the meta tags the page reads at start.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";
import { CocalcError, ErrorCodes, toErrorPayload } from "../../shared/errors.js";
import { contentSecurityPolicy } from "./security.js";

/** The page's meta tag that hands the nonce of this response to the page's script. */
export const NONCE_META = "cocalc-style-nonce";
/** The page's meta tag that says which product serves it ("plus" or "hub"). */
export const PRODUCT_META = "cocalc-product";

const escapeAttribute = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll('"', "&quot;").replaceAll("<", "&lt;");

/** index.html, read once, with a fresh style nonce in every copy sent. */
async function appPage(
  file: string,
  metas: Readonly<Record<string, string>>,
): Promise<{ render(): { html: string; nonce: string } }> {
  const text = await readFile(file, "utf8");
  const at = text.indexOf("</head>");
  if (at === -1) throw new Error(`${file} has no </head>`);
  const fixed = Object.entries(metas)
    .map(
      ([name, content]) =>
        `<meta name="${escapeAttribute(name)}" content="${escapeAttribute(content)}">\n`,
    )
    .join("");
  return {
    render() {
      const nonce = randomBytes(18).toString("base64");
      const meta = `${fixed}<meta name="${NONCE_META}" content="${nonce}">\n`;
      return { html: `${text.slice(0, at)}${meta}${text.slice(at)}`, nonce };
    },
  };
}

/** Serves the built web app of `webRoot`; a 503 page that says how to build it when missing. */
export async function registerWebApp(
  app: FastifyInstance,
  webRoot: string,
  metas: Readonly<Record<string, string>> = { [PRODUCT_META]: "plus" },
): Promise<void> {
  const index = join(webRoot, "index.html");
  const page = existsSync(index) ? await appPage(index, metas) : undefined;
  if (page) {
    await app.register(fastifyStatic, {
      root: webRoot,
      // One route for every file, looked up when asked (a route per file made ~250 routes at
      // start, about 20 ms of it); a path that is no file goes on to the not-found handler.
      wildcard: true,
      index: false,
      // The page itself always comes with its nonce (below).
      allowedPath: (path) => path !== "/index.html",
    });
  }
  const sendPage = (reply: FastifyReply) => {
    const { html, nonce } = page!.render();
    return reply
      .header("Cache-Control", "no-cache")
      .header("Content-Security-Policy", contentSecurityPolicy(nonce))
      .type("text/html; charset=utf-8")
      .send(html);
  };
  if (page) app.get("/", (_req, reply) => sendPage(reply));

  app.setNotFoundHandler((request, reply) => {
    const wantsPage = request.method === "GET" && !request.url.startsWith("/api/");
    // Client-side routes (deep links) all load the app.
    if (wantsPage && page) return sendPage(reply);
    if (wantsPage) {
      return reply
        .code(503)
        .type("text/plain")
        .send("The web app is not built: run `npm run build`.");
    }
    const err = new CocalcError(
      "ERR_GATEWAY_NOT_FOUND",
      `no route ${request.method} ${request.url.split("?")[0]}`,
    );
    return reply.code(ErrorCodes.ERR_GATEWAY_NOT_FOUND.status).send(toErrorPayload(err));
  });
}
