/** `cocalc-launchpad hub account …`: the operator at the console lists and manages accounts. */
import { CONSOLE_ACTOR, type HubReply, HubSubjects, RESET_PATH } from "../../shared/hub.js";
import { silentLogger } from "../common/logger.js";
import type { HubAccountOptions } from "./args.js";
import { connectHub, readHubRun } from "./hub-connect.js";

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("password (at least 10 characters): ");
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    if (Buffer.concat(chunks).includes(10)) break;
  }
  return Buffer.concat(chunks).toString("utf8").split("\n")[0]!.replace(/\r$/, "");
}

/** Runs the command; returns the exit code, printing what it did or why not. */
export async function hubAccountCli(o: HubAccountOptions): Promise<number> {
  const nc = await connectHub(o.dataDir, silentLogger());
  const ask = async (type: string, data: Record<string, unknown>) => {
    const m = await nc.request(
      HubSubjects.command,
      JSON.stringify({ type, data: { by: CONSOLE_ACTOR, ...data } }),
      { timeout: 20_000 },
    );
    const r = m.json<HubReply>();
    if (!r.ok) throw new Error(`${r.error.message} (${r.error.code})`);
    return r;
  };
  try {
    if (o.action === "list") {
      const rows = [
        ["EMAIL", "ROLE", "STATUS", "VIA", "CREATED", "ID"],
        ...((await ask("ListAccounts", {})).accounts ?? []).map((a) => [
          a.email ?? "",
          a.role,
          a.status,
          a.via,
          a.created,
          a.id,
        ]),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows)
        console.log(
          r
            .map((c, i) => c.padEnd(widths[i]!))
            .join("  ")
            .trimEnd(),
        );
      return 0;
    }
    if (o.action === "create") {
      const password = await readPassword();
      const r = await ask("CreateAccount", {
        email: o.email,
        password,
        role: o.admin ? "admin" : "user",
      });
      console.log(`account ${o.email} created (${r.account?.role}, id ${r.account?.id})`);
      return 0;
    }
    const found = await ask("FindAccount", { email: o.email });
    const id = found.account!.id;
    if (o.action === "reset") {
      const { reset } = await ask("CreateResetLink", {
        account: id,
        ttlSeconds: o.ttlSeconds ?? 3600,
      });
      const url = (await readHubRun(o.dataDir)).url ?? "";
      // The link goes to the operator's terminal only; the secret is in its hash part.
      console.log(`a password reset link for ${o.email}, valid until ${reset!.expires}, once:`);
      console.log(`${url}${RESET_PATH}#${reset!.token}`);
      return 0;
    }
    if (o.action === "delete") await ask("DeleteAccount", { account: id });
    else if (o.action === "disable" || o.action === "enable")
      await ask("SetAccountDisabled", { account: id, disabled: o.action === "disable" });
    else
      await ask("SetAccountRole", { account: id, role: o.action === "admin" ? "admin" : "user" });
    console.log(`account ${o.email}: ${o.action} done`);
    return 0;
  } catch (err) {
    console.error(`cocalc-launchpad: ${(err as Error).message}`);
    return 1;
  } finally {
    await nc.close();
  }
}
