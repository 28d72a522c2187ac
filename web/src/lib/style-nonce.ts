/**
 * The page's content policy admits `<style>` elements only with this response's nonce (see
 * contentSecurityPolicy in services/gateway/security.ts). CodeMirror and xterm make their own
 * style elements through `document.createElement`, with no way to pass a nonce to xterm: so
 * every style element the page's own script creates gets it. Markup that arrives as HTML
 * (innerHTML, an injected document) never passes through here and stays refused.
 */
const NONCE_META = "cocalc-style-nonce";

export function nonceStyleElements(doc: Document = document): void {
  const nonce = doc.querySelector<HTMLMetaElement>(`meta[name="${NONCE_META}"]`)?.content;
  if (!nonce) return;
  const create = Document.prototype.createElement;
  Document.prototype.createElement = function (
    this: Document,
    tag: string,
    options?: ElementCreationOptions,
  ): HTMLElement {
    const el = create.call(this, tag, options);
    if (tag.toLowerCase() === "style") el.setAttribute("nonce", nonce);
    return el;
  } as typeof Document.prototype.createElement;
}
