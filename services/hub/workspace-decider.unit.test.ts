import { describe, expect, it } from "vitest";
import { given } from "../../shared/decider.js";
import type { CocalcError } from "../../shared/errors.js";
import {
  type WorkspaceCommand,
  type WorkspaceDecided,
  workspaceDecider,
} from "./workspace-decider.js";

const AT = "2026-12-01T00:00:00.000Z";
const cmd = (c: Omit<WorkspaceCommand, "actor" | "at">, at = AT) =>
  ({ ...c, actor: "x", at }) as WorkspaceCommand;
const created: WorkspaceDecided = {
  type: "HubWorkspaceCreated",
  data: { owner: "ann", title: "T", image: "bb", quota: {} },
};
const added = (account: string, role: "owner" | "collaborator" | "viewer"): WorkspaceDecided => ({
  type: "MemberAdded",
  data: { account, role, by: "ann" },
});
const invite: WorkspaceDecided = {
  type: "HubWorkspaceInviteCreated",
  data: { inviteId: "i1", role: "viewer", expires: "2026-12-08T00:00:00.000Z", by: "ann" },
};
const code = (r: { error?: unknown }) => (r.error as CocalcError | undefined)?.code;

describe("hub workspace decider - members", () => {
  it("workspace decider - an owner adds a member once; others cannot add", () => {
    const add = cmd({ type: "AddMember", data: { by: "ann", account: "bob", role: "viewer" } });
    expect(given(workspaceDecider, [created]).when(add).events).toEqual([
      { type: "MemberAdded", data: { account: "bob", role: "viewer", by: "ann" } },
    ]);
    expect(code(given(workspaceDecider, [created, added("bob", "viewer")]).when(add))).toBe(
      "ERR_HUB_MEMBER_EXISTS",
    );
    const byCollaborator = cmd({
      type: "AddMember",
      data: { by: "bob", account: "cat", role: "viewer" },
    });
    expect(
      code(given(workspaceDecider, [created, added("bob", "collaborator")]).when(byCollaborator)),
    ).toBe("ERR_HUB_FORBIDDEN");
    // A stranger does not learn that the workspace exists.
    const byStranger = cmd({
      type: "AddMember",
      data: { by: "eve", account: "cat", role: "owner" },
    });
    expect(code(given(workspaceDecider, [created]).when(byStranger))).toBe(
      "ERR_WORKSPACE_NOT_FOUND",
    );
  });

  it("workspace decider - roles change; the last owner is neither demoted nor removed", () => {
    const demoteAnn = cmd({
      type: "ChangeRole",
      data: { by: "ann", account: "ann", role: "collaborator" },
    });
    expect(code(given(workspaceDecider, [created]).when(demoteAnn))).toBe("ERR_HUB_LAST_OWNER");
    const removeAnn = cmd({ type: "RemoveMember", data: { by: "ann", account: "ann" } });
    expect(code(given(workspaceDecider, [created]).when(removeAnn))).toBe("ERR_HUB_LAST_OWNER");
    // With a second owner, either may go.
    const twoOwners = [created, added("bob", "owner")];
    expect(given(workspaceDecider, twoOwners).when(removeAnn).events).toEqual([
      { type: "MemberRemoved", data: { by: "ann", account: "ann" } },
    ]);
    expect(given(workspaceDecider, twoOwners).when(demoteAnn).events).toHaveLength(1);
    const promote = cmd({
      type: "ChangeRole",
      data: { by: "ann", account: "bob", role: "collaborator" },
    });
    expect(given(workspaceDecider, [created, added("bob", "viewer")]).when(promote).events).toEqual(
      [{ type: "MemberRoleChanged", data: { by: "ann", account: "bob", role: "collaborator" } }],
    );
    // The same role again changes nothing.
    expect(
      given(workspaceDecider, [created, added("bob", "collaborator")]).when(promote).events,
    ).toEqual([]);
    const missing = cmd({ type: "RemoveMember", data: { by: "ann", account: "zed" } });
    expect(code(given(workspaceDecider, [created]).when(missing))).toBe("ERR_HUB_MEMBER_NOT_FOUND");
    const missingRole = cmd({
      type: "ChangeRole",
      data: { by: "ann", account: "zed", role: "viewer" },
    });
    expect(code(given(workspaceDecider, [created]).when(missingRole))).toBe(
      "ERR_HUB_MEMBER_NOT_FOUND",
    );
  });

  it("workspace decider - a removed member is gone, and may be added again", () => {
    const events = [
      created,
      added("bob", "collaborator"),
      { type: "MemberRemoved", data: { account: "bob", by: "ann" } } as WorkspaceDecided,
    ];
    const act = cmd({ type: "Rename", data: { by: "bob", title: "mine" } });
    expect(code(given(workspaceDecider, events).when(act))).toBe("ERR_WORKSPACE_NOT_FOUND");
    const again = cmd({ type: "AddMember", data: { by: "ann", account: "bob", role: "viewer" } });
    expect(given(workspaceDecider, events).when(again).events).toHaveLength(1);
  });

  it("workspace decider - a viewer may not act; a second owner may delete", () => {
    const rename = cmd({ type: "Rename", data: { by: "bob", title: "x" } });
    expect(code(given(workspaceDecider, [created, added("bob", "viewer")]).when(rename))).toBe(
      "ERR_HUB_FORBIDDEN",
    );
    const del = cmd({ type: "Delete", data: { by: "bob" } });
    expect(code(given(workspaceDecider, [created, added("bob", "collaborator")]).when(del))).toBe(
      "ERR_HUB_FORBIDDEN",
    );
    expect(given(workspaceDecider, [created, added("bob", "owner")]).when(del).events).toEqual([
      { type: "MemberRemoved", data: { account: "ann" } },
      { type: "MemberRemoved", data: { account: "bob" } },
      { type: "HubWorkspaceDeleted", data: {} },
    ]);
  });
});

describe("hub workspace decider - invite links", () => {
  const accept = (account: string, at = AT) =>
    cmd({ type: "AcceptInvite", data: { account, inviteId: "i1" } }, at);

  it("workspace decider - an owner makes a link; it must expire later", () => {
    const make = (expires: string, by = "ann") =>
      cmd({ type: "CreateInvite", data: { by, inviteId: "i1", role: "viewer", expires } });
    expect(
      given(workspaceDecider, [created]).when(make("2026-12-08T00:00:00.000Z")).events,
    ).toEqual([invite]);
    expect(code(given(workspaceDecider, [created]).when(make(AT)))).toBe("ERR_COMMAND_INVALID");
    expect(
      code(
        given(workspaceDecider, [created, added("bob", "collaborator")]).when(
          make("2026-12-08T00:00:00.000Z", "bob"),
        ),
      ),
    ).toBe("ERR_HUB_FORBIDDEN");
  });

  it("workspace decider - a link adds its role once, then is spent", () => {
    expect(given(workspaceDecider, [created, invite]).when(accept("bob")).events).toEqual([
      { type: "HubWorkspaceInviteUsed", data: { inviteId: "i1", account: "bob" } },
      { type: "MemberAdded", data: { account: "bob", role: "viewer", by: "bob", invite: "i1" } },
    ]);
    const used = given(workspaceDecider, [
      created,
      invite,
      { type: "HubWorkspaceInviteUsed", data: { inviteId: "i1", account: "bob" } },
      { type: "MemberAdded", data: { account: "bob", role: "viewer", by: "bob", invite: "i1" } },
    ]).when(accept("cat"));
    expect(code(used)).toBe("ERR_HUB_INVITE");
    expect((used.error as Error).message).toMatch(/used already/);
  });

  it("workspace decider - an expired, revoked or unknown link adds no one", () => {
    const late = given(workspaceDecider, [created, invite]).when(
      accept("bob", "2026-12-08T00:00:00.000Z"),
    );
    expect(code(late)).toBe("ERR_HUB_INVITE");
    expect((late.error as Error).message).toMatch(/expired/);
    const revoked = given(workspaceDecider, [
      created,
      invite,
      { type: "HubWorkspaceInviteRevoked", data: { inviteId: "i1", by: "ann" } },
    ]).when(accept("bob"));
    expect((revoked.error as Error).message).toMatch(/revoked/);
    expect(code(given(workspaceDecider, [created]).when(accept("bob")))).toBe("ERR_HUB_INVITE");
    // Revoking twice is nothing new; revoking what never was is an error.
    const revoke = cmd({ type: "RevokeInvite", data: { by: "ann", inviteId: "i1" } });
    expect(
      given(workspaceDecider, [
        created,
        invite,
        { type: "HubWorkspaceInviteRevoked", data: { inviteId: "i1", by: "ann" } },
      ]).when(revoke).events,
    ).toEqual([]);
    expect(code(given(workspaceDecider, [created]).when(revoke))).toBe("ERR_HUB_INVITE");
  });

  it("workspace decider - a member's accepting does not spend the link", () => {
    const r = given(workspaceDecider, [created, invite]).when(accept("ann"));
    expect(code(r)).toBe("ERR_HUB_MEMBER_EXISTS");
  });
});
