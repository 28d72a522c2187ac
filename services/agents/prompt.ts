/** A turn's prompt as ACP content blocks. */
import { readFile } from "node:fs/promises";
import type * as acp from "@agentclientprotocol/sdk";
import type { TurnView } from "../../shared/agents.js";
import { CocalcError } from "../../shared/errors.js";
import type { AgentProcess } from "./agent-process.js";
import type { AgentPlace } from "./place.js";

/** The prompt's content blocks: the text, and each image (inline when the agent takes images). */
export async function promptOf(
  t: TurnView,
  proc: AgentProcess,
  place: AgentPlace,
): Promise<acp.ContentBlock[]> {
  const blocks: acp.ContentBlock[] = [];
  if (t.prompt.trim() !== "") blocks.push({ type: "text", text: t.prompt });
  const inline = proc.init?.agentCapabilities?.promptCapabilities?.image === true;
  for (const path of t.images) {
    const mimeType = mimeOf(path);
    if (inline) {
      const data = await (place.files?.readBytes(path) ?? readFile(path)).catch(() => {
        throw new CocalcError("ERR_AGENT_PROMPT", `the image ${path} cannot be read`);
      });
      blocks.push({
        type: "image",
        data: data.toString("base64"),
        mimeType,
        uri: `file://${path}`,
      });
    } else {
      blocks.push({
        type: "resource_link",
        name: path.slice(path.lastIndexOf("/") + 1),
        uri: `file://${path}`,
        mimeType,
      });
    }
  }
  return blocks;
}

function mimeOf(path: string): string {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  const types: Record<string, string> = {
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    gif: "image/gif",
    webp: "image/webp",
    svg: "image/svg+xml",
  };
  return types[ext] ?? "application/octet-stream";
}
