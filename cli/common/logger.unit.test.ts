import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { rootLogger, setRootLogger } from "../../services/runtime/logger.js";
import { until } from "../../test/helpers/nats.js";
import { cliLogger } from "./logger.js";

const before = rootLogger();
const dirs: string[] = [];
afterEach(() => {
  setRootLogger(before);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("cli logger", () => {
  it("keeps a token nested in a logged object out of the log file and stderr", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-logger-"));
    dirs.push(dir);
    let console = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        console += chunk;
        done();
      },
    });
    const file = join(dir, "logs", "plus.log");
    const log = cliLogger({ file, level: "info", console: sink });
    expect(rootLogger()).toBe(log);
    const session = {
      id: "s1",
      remote: { nats: { token: "tok-nested", user: "u" }, auth: { password: "pw-nested" } },
    };
    log.info({ session }, "session opened");
    log.child({ service: "remote" }).warn({ req: { headers: { cookie: "c-nested" } } }, "odd");
    log.info("after");
    const text = await until("the log file to hold the last line", async () => {
      // the file is opened asynchronously (sonic-boom): it may not exist yet
      const t = existsSync(file) ? readFileSync(file, "utf8") : "";
      return t.includes('"msg":"after"') && t;
    });
    expect(console).toContain('"msg":"odd"');
    for (const secret of ["tok-nested", "pw-nested", "c-nested"]) {
      expect(text).not.toContain(secret);
      expect(console).not.toContain(secret);
    }
    expect(text).toContain('"user":"u"');
    expect(text).toContain("[secret]");
    expect(statSync(join(dir, "logs")).mode & 0o777).toBe(0o700);
  });
});
