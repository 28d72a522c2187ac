import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "shared/**/*.test.ts",
      "scripts/**/*.test.ts",
      "streams/**/*.test.ts",
      "services/**/*.test.ts",
      "cli/**/*.test.ts",
      "test/**/*.test.ts",
      "web/**/*.unit.test.ts",
    ],
    exclude: ["node_modules/**", "dist/**"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // A file that leaves processes, sockets or timers running fails (test/leak-check.ts).
    setupFiles: ["./test/leak-check.ts"],
    pool: "forks",
    maxWorkers: 2,
    // In CI a skipped test fails the run (see the reporter).
    reporters: ["default", "./test/ci-skips-reporter.ts"],
  },
});
