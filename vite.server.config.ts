// The cocalc-plus command as one ES module file (dist/bundle/plus.js): loading one file
// instead of a few hundred from node_modules halves start-up time.
import { defineConfig } from "vite";

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
      // cocalc-launchpad (dist/bundle/launchpad.js) is bundled the same way.
      input: {
        plus: "cli/plus.ts",
        launchpad: "cli/launchpad.ts",
        // The terminals' pty host runs as its own process (found next to plus.js).
        "pty-host": "services/terminals/pty-host.ts",
        // A container workspace's file operations run in their own process, as its user.
        "fs-worker": "services/fs/worker.ts",
      },
      // Native addons: loaded from node_modules at run time, never bundled.
      external: ["node-pty", "better-sqlite3", "@node-rs/argon2"],
      output: {
        format: "es",
        entryFileNames: "[name].js",
        chunkFileNames: "[name]-[hash].js",
        minify: {
          compress: { keepNames: { function: true, class: true } },
          mangle: { keepNames: true },
        },
      },
    },
  },
  ssr: { noExternal: true, target: "node" },
  logLevel: "warn",
});
