/** `cocalc-launchpad hub account …`: the operator at the console lists and manages accounts. */
import { readFile } from "node:fs/promises";
import { CONSOLE_ACTOR, type HubReply, HubSubjects, RESET_PATH } from "../../shared/hub.js";
import { HubSshKeySubjects, type HubSshKeysReply } from "../../shared/hub-ssh.js";
import { silentLogger } from "../common/logger.js";
import type { HubAccountOptions, HubSshKeyOptions } from "./args.js";
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

/** `hub account ssh-key add|list|remove`: an account's SSH public keys. */
export async function hubSshKeyCli(o: HubSshKeyOptions): Promise<number> {
  const nc = await connectHub(o.dataDir, silentLogger());
  const ask = async <R>(subject: string, type: string, data: Record<string, unknown>) => {
    const m = await nc.request(
      subject,
      JSON.stringify({ type, data: { by: CONSOLE_ACTOR, ...data } }),
      { timeout: 20_000 },
    );
    const r = m.json<R & { ok: boolean; error?: { code: string; message: string } }>();
    if (!r.ok) throw new Error(`${r.error?.message} (${r.error?.code})`);
    return r;
  };
  try {
    const found = await ask<HubReply>(HubSubjects.command, "FindAccount", { email: o.email });
    const account = (found as HubReply & { ok: true }).account!.id;
    const keys = async (type: string, data: Record<string, unknown> = {}) =>
      (
        await ask<HubSshKeysReply & { ok: true }>(HubSshKeySubjects.command, type, {
          account,
          ...data,
        })
      ).keys;
    if (o.action === "list") {
      const rows = [
        ["NAME", "TYPE", "FINGERPRINT", "ADDED"],
        ...(await keys("ListSshKeys")).map((k) => [k.name, k.type, k.fingerprint, k.added]),
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
    if (o.action === "remove") {
      await keys("RemoveSshKey", { name: o.name });
      console.log(`ssh key ${o.name} of ${o.email} removed`);
      return 0;
    }
    const text =
      o.file !== undefined
        ? await readFile(o.file, "utf8")
        : await (async () => {
            const chunks: Buffer[] = [];
            for await (const c of process.stdin) chunks.push(c as Buffer);
            return Buffer.concat(chunks).toString("utf8");
          })();
    const added = (await keys("AddSshKey", { name: o.name, key: text.trim() })).find(
      (k) => k.name === o.name,
    );
    console.log(`ssh key ${o.name} added to ${o.email}: ${added?.type} ${added?.fingerprint}`);
    return 0;
  } catch (err) {
    console.error(`cocalc-launchpad: ${(err as Error).message}`);
    return 1;
  } finally {
    await nc.close();
  }
}
