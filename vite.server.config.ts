// The cocalc-plus command as one ES module file (dist/bundle/plus.js): loading one file
// instead of a few hundred from node_modules halves start-up time.
import { defineConfig } from "vite";

export default defineConfig({
  build: {
    ssr: "cli/plus.ts",
    outDir: "dist/bundle",
    emptyOutDir: true,
    target: "node20",
    minify: false,
    sourcemap: false,
    reportCompressedSize: false,
    rollupOptions: {
      output: { format: "es", entryFileNames: "plus.js", chunkFileNames: "[name]-[hash].js" },
    },
  },
  ssr: { noExternal: true, target: "node" },
  logLevel: "warn",
});
