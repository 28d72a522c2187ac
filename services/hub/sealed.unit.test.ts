import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SealingKey } from "./sealed.js";

describe("sealed values", async () => {
  const dir = await mkdtemp(join(tmpdir(), "cocalc-sealed-"));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("open with the key and context they were sealed with, and with nothing else", async () => {
    const file = join(dir, "k");
    const key = await SealingKey.open(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const sealed = key.seal('{"OPENAI_API_KEY":"sk-1"}', "agentkeys.account.a");
    expect(sealed).not.toContain("sk-1");
    // Sealing again gives another value (a fresh nonce); both open.
    expect(key.seal('{"OPENAI_API_KEY":"sk-1"}', "agentkeys.account.a")).not.toBe(sealed);
    expect(key.open(sealed, "agentkeys.account.a")).toBe('{"OPENAI_API_KEY":"sk-1"}');
    // The same key file read again opens it; another record's context, another key or a
    // changed byte does not.
    expect((await SealingKey.open(file)).open(sealed, "agentkeys.account.a")).toContain("sk-1");
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return "opened";
    };
    expect(code(() => key.open(sealed, "agentkeys.account.b"))).toBe("ERR_HUB_SEALED");
    const other = await SealingKey.open(join(dir, "other"));
    expect(code(() => other.open(sealed, "agentkeys.account.a"))).toBe("ERR_HUB_SEALED");
    const parts = sealed.split(".");
    const data = Buffer.from(parts[3]!, "base64url");
    data[0] = data[0]! ^ 1;
    parts[3] = data.toString("base64url");
    expect(code(() => key.open(parts.join("."), "agentkeys.account.a"))).toBe("ERR_HUB_SEALED");
    expect(code(() => key.open("garbage", "agentkeys.account.a"))).toBe("ERR_HUB_SEALED");
    expect(await readFile(file, "utf8")).not.toContain("sk-1");
  });

  it("refuses a key file that does not hold a key", async () => {
    const file = join(dir, "short");
    await writeFile(file, "c2hvcnQ=\n", { mode: 0o600 });
    await expect(SealingKey.open(file)).rejects.toMatchObject({ code: "ERR_HUB_SEALED" });
  });
});
