/**
 * `cocalc-plus token [--rotate]`: prints the sign-in URL of the running plus again; with
 * --rotate a new token replaces the old one and every signed-in browser is signed out, at once
 * when plus is running, at its next start when it is not.
 */
import { rm } from "node:fs/promises";
import { errorText, request } from "../../shared/command-client.js";
import { plusControlSubject } from "../../shared/subjects.js";
import { browserSessionsFile, newSecret, updateSecrets } from "../common/secrets.js";
import { connectPlus } from "./client.js";
import type { PlusControlRequest } from "./server.js";

export async function tokenCli(dataDir: string, rotate: boolean): Promise<string> {
  let connected: Awaited<ReturnType<typeof connectPlus>>;
  try {
    connected = await connectPlus(dataDir, "cocalc-plus token");
  } catch (err) {
    if (!rotate) throw err;
    await updateSecrets(dataDir, { token: newSecret(), browserPassword: newSecret() });
    await rm(browserSessionsFile(dataDir), { force: true });
    return `cocalc-plus is not running on ${dataDir}: a new token is saved; the next start prints its URL`;
  }
  const { nc, run } = connected;
  try {
    const control: PlusControlRequest = { type: rotate ? "RotateToken" : "SignInUrl" };
    const reply = await request<{ signInUrl: string }>(nc, plusControlSubject(run.wsid), control, {
      timeoutMs: 15_000,
      unanswered: (err) =>
        new Error(`cocalc-plus on ${dataDir} did not answer: ${(err as Error).message}`),
      refused: (error) => new Error(errorText(error)),
    });
    return rotate
      ? `New token; every browser was signed out. Sign in with:\n${reply.signInUrl}`
      : reply.signInUrl;
  } finally {
    await nc.close();
  }
}
