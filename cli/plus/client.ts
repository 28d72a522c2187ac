/** What the commands that talk to a running plus share: its NATS connection and its services' commands. */
import { readFile } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectServices } from "../../services/runtime/connect.js";
import { errorText, isCommandAnswer, request } from "../../shared/command-client.js";
import type { CommandReply } from "../../shared/commands.js";
import { workspaceSubjects } from "../../shared/subjects.js";
import { secretsFile } from "../common/secrets.js";
import { type RunInfo, runInfoFile } from "./server.js";

/** Connects as the services' user to the plus running on `dataDir`. */
export async function connectPlus(
  dataDir: string,
  name: string,
): Promise<{ nc: NatsConnection; run: RunInfo }> {
  let run: RunInfo;
  let seed: string;
  try {
    run = JSON.parse(await readFile(runInfoFile(dataDir), "utf8")) as RunInfo;
    seed = (JSON.parse(await readFile(secretsFile(dataDir), "utf8")) as { servicesSeed: string })
      .servicesSeed;
  } catch {
    throw new Error(`no cocalc-plus is running on ${dataDir} (start it first, or pass --data-dir)`);
  }
  return { nc: await connectServices({ url: run.natsUrl, seed }, name), run };
}

/** Sends a command to a service of workspace `wsid`; a refusal throws its message and code. */
export function sendCommand(
  nc: NatsConnection,
  wsid: string,
  service: string,
  type: string,
  data: unknown,
): Promise<CommandReply> {
  return request(
    nc,
    workspaceSubjects(wsid).command(service),
    { type, data },
    {
      timeoutMs: 30_000,
      isAnswer: isCommandAnswer,
      unanswered: (err) =>
        new Error(`the ${service} service did not answer: ${(err as Error).message}`),
      refused: (error) => new Error(errorText(error)),
    },
  );
}
