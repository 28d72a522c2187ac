/**
 * A cocalc-plus for the file benchmarks: started from the bundle with its own temp HOME and
 * data dir, signed in with the token it wrote to its 0600 connection-info token file.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../services/runtime/ports.js";
import { signIn } from "../helpers/plus.js";
import { type Spawned, spawnServer, stopServer, waitForHttp200 } from "./proc.js";

const PLUS_CLI = fileURLToPath(new URL("../../bundle/plus.js", import.meta.url));

export interface BenchPlus {
  server: Spawned;
  /** http://127.0.0.1:PORT/ */
  url: string;
  port: number;
  /** The URL with ?token=, for a browser. */
  signInUrl(): Promise<string>;
  /** Headers of a signed-in browser, for plain HTTP clients. */
  auth(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

export async function startBenchPlus(dir: string, home: string): Promise<BenchPlus> {
  const port = await freePort();
  const info = join(dir, "connection.json");
  const server = spawnServer(
    process.execPath,
    [
      PLUS_CLI,
      "--no-open",
      "--port",
      String(port),
      "--data-dir",
      join(dir, "data"),
      "--write-connection-info",
      info,
    ],
    {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(dir, "config"),
      XDG_DATA_HOME: join(dir, "share"),
    },
  );
  const url = `http://127.0.0.1:${port}/`;
  await waitForHttp200(`${url}healthz`, server);
  const token = async () => (await readFile(join(dir, "connection.token"), "utf8")).trim();
  return {
    server,
    url,
    port,
    signInUrl: async () => `${url}?token=${await token()}`,
    auth: async () => (await signIn(port, await token())).headers,
    stop: () => stopServer(server),
  };
}
