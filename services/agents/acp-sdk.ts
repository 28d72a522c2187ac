/**
 * The ACP SDK at run time. It (and the schemas it builds when loaded) is loaded when the first
 * agent starts, not with plus: most starts run no agent, and it costs tens of milliseconds.
 * Types come from `import type`, which costs nothing.
 */
import type * as Acp from "@agentclientprotocol/sdk";

let sdk: typeof Acp | undefined;

export async function loadAcp(): Promise<typeof Acp> {
  sdk ??= await import("@agentclientprotocol/sdk");
  return sdk;
}

/** The loaded SDK; every path that talks ACP runs after an agent process was started. */
export function acpSdk(): typeof Acp {
  if (!sdk) throw new Error("the ACP SDK is used before any agent started");
  return sdk;
}
