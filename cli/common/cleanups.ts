import type { Logger } from "../../services/runtime/logger.js";

/**
 * What a start-up has set up, undone in reverse order on stop or on a failed start. A step
 * that fails is logged and the rest still run; undo() runs the steps once however often it is called.
 */
export function cleanupStack(log: Logger) {
  const steps: (() => Promise<void>)[] = [];
  let undone: Promise<void> | undefined;
  return {
    push(step: () => Promise<void>): void {
      steps.push(step);
    },
    undo(): Promise<void> {
      undone ??= (async () => {
        for (const step of steps.reverse()) {
          try {
            await step();
          } catch (err) {
            log.warn({ err }, "cleanup step failed");
          }
        }
      })();
      return undone;
    },
  };
}
