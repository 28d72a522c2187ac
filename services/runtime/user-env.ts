/** Variables of our own start-up that the user's programs (shells, apps) should not inherit. */
const NOT_INHERITED = /^(npm_|COCALC_PLUS_DAEMON_CHILD$|NODE_CHANNEL_|VITEST|JEST_WORKER_ID$)/;

/** The environment a user's program starts with: plus's own, less its start-up variables. */
export function userEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !NOT_INHERITED.test(k)) env[k] = v;
  }
  env.LANG ??= "C.UTF-8";
  return env;
}
