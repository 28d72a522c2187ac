// The server programs as a few CommonJS files in dist/bundle/: loading a few files instead of
// a few hundred from node_modules halves start-up time. CommonJS, not ES modules, because only
// scripts can take a V8 code cache on Node 20: plus.js and launchpad.js are small loaders
// (cli/bin/) that run plus-main.js and launchpad-main.js with one (cli/bin/load-bundled.ts).
import { defineConfig, type Plugin } from "vite";

/** dist/bundle/package.json: the bundle's .js files are CommonJS, whatever the package says. */
const commonJsScope: Plugin = {
  name: "commonjs-scope",
  generateBundle() {
    this.emitFile({
      type: "asset",
      fileName: "package.json",
      source: `${JSON.stringify({ type: "commonjs" })}\n`,
    });
  },
};

export default defineConfig({
  build: {
    ssr: true,
    outDir: "dist/bundle",
    emptyOutDir: true,
    target: "node20",
    // Half the bytes to parse on every start; names are kept so stack traces and
    // constructor names stay readable.
    minify: "oxc",
    sourcemap: false,
    reportCompressedSize: false,
    rollupOptions: {
      input: {
        plus: "cli/bin/plus.ts",
        "plus-main": "cli/plus/main.ts",
        launchpad: "cli/bin/launchpad.ts",
        "launchpad-main": "cli/launchpad/main.ts",
        // The terminals' pty host runs as its own process (found next to plus.js).
        "pty-host": "services/terminals/pty-host.ts",
        // A container workspace's file operations run in their own process, as its user.
        "fs-worker": "services/fs/worker.ts",
      },
      // Native addons (ssh2 has optional ones): loaded from node_modules at run time, never bundled.
      external: ["node-pty", "better-sqlite3", "@node-rs/argon2", "ssh2", "zeromq"],
      output: {
        format: "cjs",
        entryFileNames: "[name].js",
        chunkFileNames: "[name]-[hash].js",
        minify: {
          compress: { keepNames: { function: true, class: true } },
          mangle: { keepNames: true },
        },
      },
    },
  },
  plugins: [commonJsScope],
  ssr: { noExternal: true, target: "node" },
  logLevel: "warn",
});
