/**
 * In CI a skipped test fails the run. CI (.ci/run) installs every prerequisite, so a test that
 * skips there did not run for a reason nobody chose: a missing package, a build step that did
 * not happen, a check that is wrong. Outside CI a missing prerequisite still just skips.
 *
 * A test may be skipped in CI only when it is listed in EXPECTED_IN_CI with the reason.
 * Runs filtered by name (`-t`) skip the rest on purpose and are not checked.
 */
import type { UserConsoleLog } from "vitest";
import type { Reporter, TestModule, Vitest } from "vitest/node";

/** Full test name (describe names and test name joined by " > ") → why CI cannot run it. */
const EXPECTED_IN_CI: Readonly<Record<string, string>> = {};

interface Skipped {
  file: string;
  name: string;
  why: string;
}

export default class CiSkipsReporter implements Reporter {
  private vitest: Vitest | undefined;
  /** What each test file printed about skipping (the reason of a describe.skipIf). */
  private readonly warnings = new Map<string, string[]>();

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onUserConsoleLog(log: UserConsoleLog): void {
    if (!/skip/i.test(log.content) || log.taskId === undefined) return;
    const file = this.vitest?.state.idMap.get(log.taskId)?.file?.filepath;
    if (!file) return;
    const seen = this.warnings.get(file) ?? [];
    seen.push(log.content.trim());
    this.warnings.set(file, seen);
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    if (!process.env.CI || this.vitest?.config.testNamePattern) return;
    const skipped: Skipped[] = [];
    for (const mod of modules) {
      for (const test of mod.children.allTests()) {
        const result = test.result();
        if (result.state !== "skipped" || test.fullName in EXPECTED_IN_CI) continue;
        const printed = this.warnings.get(mod.moduleId)?.join("; ");
        skipped.push({
          file: mod.relativeModuleId,
          name: test.fullName,
          why: result.note ?? printed ?? `skipped (${test.options.mode})`,
        });
      }
    }
    if (skipped.length === 0) return;
    const lines = skipped.map((s) => `  ${s.file} > ${s.name}\n      ${s.why}`);
    process.stderr.write(
      `\nCI runs every test, but ${skipped.length} skipped (list one in test/ci-skips-reporter.ts only with the reason CI cannot run it):\n${lines.join("\n")}\n`,
    );
    process.exitCode = 1;
  }
}
