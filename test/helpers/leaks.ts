/** How a test learns that it left something open. */

/** Fails the test (or, with COCALC_LEAKS=report, prints) for something left open. */
export function reportLeak(message: string): void {
  if (process.env.COCALC_LEAKS === "report") console.warn(`LEAKS ${message}`);
  else throw new Error(message);
}
