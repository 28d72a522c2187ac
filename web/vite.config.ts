import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";
import solid from "vite-plugin-solid";

const here = fileURLToPath(new URL(".", import.meta.url));
const pdfjs = fileURLToPath(new URL("../node_modules/pdfjs-dist/", import.meta.url));

/**
 * pdf.js asks for some files by fixed names under a base URL: the standard fonts a PDF names
 * without embedding them, and the decoders of JPEG 2000 and JBIG2 images (their JavaScript
 * forms: the page's content policy runs no WebAssembly). They are copied to `pdfjs/` as they
 * are, not hashed.
 */
function pdfjsFiles(): Plugin {
  const wanted: [string, (name: string) => boolean][] = [
    ["standard_fonts", (n) => /\.(pfb|ttf)$/.test(n) || n.startsWith("LICENSE")],
    [
      "wasm",
      (n) => n.endsWith("_nowasm_fallback.js") || /^LICENSE_(PDFJS_)?(JBIG2|OPENJPEG)$/.test(n),
    ],
  ];
  return {
    name: "pdfjs-files",
    apply: "build",
    generateBundle() {
      for (const [dir, keep] of wanted) {
        for (const name of readdirSync(join(pdfjs, dir)).filter(keep)) {
          this.emitFile({
            type: "asset",
            fileName: `pdfjs/${dir}/${name}`,
            source: readFileSync(join(pdfjs, dir, name)),
          });
        }
      }
    },
  };
}

export default defineConfig({
  root: here,
  base: "/",
  plugins: [solid(), pdfjsFiles()],
  build: {
    outDir: fileURLToPath(new URL("../dist/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
  },
  server: {
    // shared/ lives next to web/, outside the vite root.
    fs: { allow: [fileURLToPath(new URL("..", import.meta.url))] },
  },
});
