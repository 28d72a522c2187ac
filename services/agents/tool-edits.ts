/**
 * Edits an agent makes with its own tools (Codex's patches, Claude Code's Edit), which plus
 * sees only as a tool call's diff content. When such a tool call completes, the file is read
 * and the edit recorded like a write through the client (FileWritten, with the tool call's
 * id), so the page shows it with the others and "Revert" and "Revert this turn" cover it: the
 * file after is what it holds now; before is the diff's old text in place of its new text
 * (the whole file, or the one place where the new text stands).
 *
 * The diff is the agent's word, and a prompt-injected agent can lie: an edit is recorded only
 * where the thread's mode lets the agent write (none in read-only, only under the working
 * directory in workspace-write) and where the agent may read (not the protected paths), so a
 * revert never becomes a way to write where the agent could not.
 */
import { CocalcError } from "../../shared/errors.js";
import { expandPath, isInside } from "../../shared/paths.js";
import { PathResolver } from "../runtime/paths.js";
import { readIfExists, readResolver, recordWrite, type TurnScope } from "./acp-client.js";
import { resolveProtected, resolverDeny } from "./protected.js";

/** A tool call's diff content (ACP `Diff`). */
export interface ToolDiff {
  path: string;
  oldText?: string | null;
  newText: string;
}

/** The diff content of a tool call update, read defensively. */
export function diffsOf(content: unknown): ToolDiff[] {
  if (!Array.isArray(content)) return [];
  const out: ToolDiff[] = [];
  for (const c of content as Record<string, unknown>[]) {
    if (c?.type !== "diff" || typeof c.path !== "string" || typeof c.newText !== "string") continue;
    const oldText = typeof c.oldText === "string" ? c.oldText : null;
    out.push({ path: c.path, oldText, newText: c.newText });
  }
  return out;
}

/** What the file held before the diff, given what it holds now; undefined: cannot tell. */
export function beforeOf(now: string, diff: ToolDiff): string | null | undefined {
  const old = diff.oldText ?? null;
  if (now === diff.newText) return old;
  if (old === null || diff.newText === "") return undefined;
  const at = now.indexOf(diff.newText);
  if (at < 0 || now.indexOf(diff.newText, at + 1) >= 0) return undefined;
  return now.slice(0, at) + old + now.slice(at + diff.newText.length);
}

/** Records the edits of a completed tool call; what cannot be recorded is said in the log. */
export async function recordToolEdits(
  scope: TurnScope,
  toolCallId: string,
  diffs: readonly ToolDiff[],
): Promise<void> {
  for (const diff of diffs) {
    try {
      await recordOne(scope, toolCallId, diff);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      scope.log.append("AgentNotice", {
        level: "warning",
        text: `the edit of ${diff.path} cannot be reverted: ${why}`,
      });
    }
  }
}

async function recordOne(scope: TurnScope, toolCallId: string, diff: ToolDiff): Promise<void> {
  if (scope.mode === "read-only") {
    throw new CocalcError(
      "ERR_AGENT_READ_ONLY",
      "the thread is read-only, so the agent cannot have written it; it is not recorded",
    );
  }
  const abs = expandPath(diff.path, scope.home, scope.cwd);
  let real: string;
  let now: string | null;
  const files = scope.place.files;
  if (files) {
    real = await files.real(abs);
    if (scope.mode === "workspace-write" && !isInside(real, await files.realDir(scope.cwd))) {
      throw outside(diff.path, scope.cwd);
    }
    now = await files.readIfExists(real);
  } else {
    const resolver =
      scope.mode === "workspace-write"
        ? await PathResolver.create({
            home: scope.cwd,
            sandbox: scope.cwd,
            deny: resolverDeny(await resolveProtected(scope.protect)),
          })
        : await readResolver(scope);
    try {
      real = await resolver.real(abs);
    } catch (err) {
      if (err instanceof CocalcError && err.code === "ERR_FS_OUTSIDE_SANDBOX") {
        throw outside(diff.path, scope.cwd);
      }
      throw err;
    }
    now = await readIfExists(resolver, real);
  }
  if (now === null) throw new CocalcError("ERR_FS_NOT_FOUND", "the file is not there");
  // Written through the client already (some agents report their writes as diffs too).
  if (scope.written.get(real) === now) return;
  const before = beforeOf(now, diff);
  if (before === undefined) {
    throw new CocalcError(
      "ERR_AGENT_REQUEST",
      "the file does not hold the diff's new text in one place (changed since?)",
    );
  }
  recordWrite(scope, real, before, now, toolCallId);
}

function outside(path: string, cwd: string): CocalcError {
  return new CocalcError(
    "ERR_AGENT_OUTSIDE_WORKDIR",
    `workspace-write mode: ${path} is outside the working directory ${cwd}`,
  );
}
