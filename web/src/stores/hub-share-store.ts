/**
 * Who is in a hub workspace, for its Share panel: the members and open invite links, live
 * from the workspace's record (`hub-workspaces`, watched by the page), with the members'
 * names asked of the hub whenever the set of members changes; and the owner's actions (add
 * by email, change a role, remove, make and revoke invite links, share an app's port publicly
 * and revoke it) over HTTP.
 */
import { type Accessor, createMemo, createResource } from "solid-js";
import type { WorkspaceRoles } from "../../../shared/hub-permissions.js";
import type { HubMember, WorkspaceInviteView } from "../../../shared/hub-workspaces.js";
import { apiFetch, errorMessage, postJson } from "../lib/session.js";
import type { WorkspaceRow } from "./hub-workspaces-store.js";

export interface ShareStore {
  /** Owners first, then by name. */
  members: Accessor<HubMember[]>;
  invites: Accessor<({ inviteId: string } & WorkspaceInviteView)[]>;
  /** Each action answers the error's words, or undefined when it was done. */
  add(email: string, role: WorkspaceRoles): Promise<string | undefined>;
  setRole(account: string, role: WorkspaceRoles): Promise<string | undefined>;
  remove(account: string): Promise<string | undefined>;
  /** A new link (`/join#<token>`, shown once), or the error's words. */
  createInvite(role: WorkspaceRoles): Promise<{ link: string } | { problem: string }>;
  revokeInvite(inviteId: string): Promise<string | undefined>;
  /** Ports anyone with their link reaches, ascending. */
  publicPorts: Accessor<number[]>;
  /** A port's new public link (shown once; it replaces an older one), or the error's words. */
  sharePort(port: number): Promise<{ link: string } | { problem: string }>;
  unsharePort(port: number): Promise<string | undefined>;
}

const ORDER: Record<WorkspaceRoles, number> = { owner: 0, collaborator: 1, viewer: 2 };

export function createShareStore(wsid: string, row: WorkspaceRow): ShareStore {
  const base = `/api/hub/workspaces/${encodeURIComponent(wsid)}`;
  const roles = () => row.hub()?.members ?? {};
  const who = createMemo(() => Object.keys(roles()).sort().join(","));
  const [named] = createResource(who, async () => {
    const res = await apiFetch(`${base}/members`, { cache: "no-store" });
    if (!res.ok) return new Map<string, HubMember>();
    const { members } = (await res.json()) as { members: HubMember[] };
    return new Map(members.map((m) => [m.account, m]));
  });
  const done = async (res: Response) => (res.ok ? undefined : errorMessage(res));
  return {
    members: () =>
      Object.entries(roles())
        .map(([account, role]): HubMember => {
          const m = named()?.get(account);
          return { account, role, name: m?.name ?? account, ...(m?.email && { email: m.email }) };
        })
        .sort((a, b) => ORDER[a.role] - ORDER[b.role] || a.name.localeCompare(b.name)),
    invites: () =>
      Object.entries(row.hub()?.invites ?? {})
        .map(([inviteId, v]) => ({ inviteId, ...v }))
        .sort((a, b) => a.expires.localeCompare(b.expires)),
    add: async (email, role) => done(await postJson(`${base}/members`, { email, role })),
    setRole: async (account, role) =>
      done(await postJson(`${base}/members/${encodeURIComponent(account)}`, { role })),
    remove: async (account) =>
      done(
        await apiFetch(`${base}/members/${encodeURIComponent(account)}`, {
          method: "DELETE",
          cache: "no-store",
        }),
      ),
    async createInvite(role) {
      const res = await postJson(`${base}/invites`, { role });
      if (!res.ok) return { problem: await errorMessage(res) };
      const { invite } = (await res.json()) as { invite: { token: string } };
      // In the fragment: browsers never send it, so no server or proxy logs it.
      return { link: `${location.origin}/join#${invite.token}` };
    },
    publicPorts: () => row.hub()?.publicPorts ?? [],
    async sharePort(port) {
      const res = await postJson(`${base}/ports`, { port });
      if (!res.ok) return { problem: await errorMessage(res) };
      return { link: ((await res.json()) as { url: string }).url };
    },
    unsharePort: async (port) =>
      done(await apiFetch(`${base}/ports/${port}`, { method: "DELETE", cache: "no-store" })),
    revokeInvite: async (inviteId) =>
      done(
        await apiFetch(`${base}/invites/${encodeURIComponent(inviteId)}`, {
          method: "DELETE",
          cache: "no-store",
        }),
      ),
  };
}
