/** What every command of cli/ shares for its arguments and its main: usage errors, exit codes. */
import { type ParseArgsConfig, parseArgs } from "node:util";

/** Bad command-line input (ERR_CLI_USAGE): a clear message and exit code 2. */
export class UsageError extends Error {
  readonly code = "ERR_CLI_USAGE";
}

/** node:util's strict parseArgs, its complaints as UsageErrors (without Node's hint about `--`). */
export function parseOptions(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  positionals = true,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: positionals });
  } catch (err) {
    throw new UsageError(
      (err as Error).message.replace(/\. To specify a positional argument.*$/s, ""),
    );
  }
}

/** A flag's value, refused when blank. */
export function nonEmpty(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === "") throw new UsageError(`${flag} needs a value`);
  return value;
}

/** A subcommand that failed: its message on stderr; exit code 2 for bad input, else 1. */
export function failed(program: string, err: unknown): number {
  console.error(`${program}: ${(err as Error)?.message ?? String(err)}`);
  return err instanceof UsageError ? 2 : 1;
}

/**
 * Runs a command's main with the process's arguments and exits with its code. Bad arguments
 * (a UsageError out of main) print the message and where the usage is, exit code 2; anything
 * else that escapes main is a bug and prints its stack.
 */
export function runMain(program: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      // Let pino flush its file stream, then leave even if a stray handle lingers.
      setTimeout(() => process.exit(code), 50).unref();
      process.exitCode = code;
    },
    (err) => {
      if (err instanceof UsageError) {
        console.error(`${program}: ${err.message}\nRun \`${program} --help\` for usage.`);
        process.exit(2);
      }
      console.error(err);
      process.exit(1);
    },
  );
}
