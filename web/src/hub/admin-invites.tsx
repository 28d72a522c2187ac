/**
 * The admin's "People": sign-up mode, and sign-up invites (made for N uses and a chosen
 * expiry, the link shown once; a page of them with their uses and state; revoke one, after
 * which its link signs nobody up).
 */
import { createResource, createSignal, For, Show } from "solid-js";
import type { InviteItem } from "../../../shared/hub.js";
import { messageOf } from "../lib/delay.js";
import { apiFetch, errorMessage, postJson } from "../lib/session.js";
import { getJson, Problem } from "./admin-section.js";
import { Pager } from "./pager.js";

const PAGE = 20;

/** How long a new invite is valid, as offered. */
const EXPIRIES = [
  { label: "1 day", seconds: 86_400 },
  { label: "7 days", seconds: 7 * 86_400 },
  { label: "30 days", seconds: 30 * 86_400 },
] as const;

const STATUS_WORDS: Record<InviteItem["status"], string> = {
  open: "open",
  "used-up": "used up",
  revoked: "revoked",
  expired: "expired",
};

export function AdminInvites() {
  const [uses, setUses] = createSignal(1);
  const [ttl, setTtl] = createSignal<number>(7 * 86_400);
  const [link, setLink] = createSignal<string>();
  const [problem, setProblem] = createSignal<string>();
  const [offset, setOffset] = createSignal(0);
  const [state] = createResource(async () => {
    const res = await apiFetch("/api/hub/state", { cache: "no-store" });
    return (await res.json()) as { signUpMode: string };
  });
  const [page, { refetch }] = createResource(offset, (from) =>
    getJson<{ total: number; invites: InviteItem[] }>(
      `/api/hub/admin/invites?offset=${from}&limit=${PAGE}`,
    ),
  );
  const create = async () => {
    setProblem(undefined);
    const res = await postJson("/api/hub/invites", { uses: uses(), ttlSeconds: ttl() });
    if (!res.ok) return setProblem(await errorMessage(res));
    const { invite } = (await res.json()) as { invite: { token: string } };
    setLink(`${location.origin}/sign-up?invite=${encodeURIComponent(invite.token)}`);
    setOffset(0);
    await refetch();
  };
  const revoke = async (id: string) => {
    setProblem(undefined);
    const res = await postJson(`/api/hub/admin/invites/${id}/revoke`, {});
    if (!res.ok) setProblem(await errorMessage(res));
    await refetch();
  };
  const mode = async (m: string) => {
    setProblem(undefined);
    const res = await postJson("/api/hub/sign-up-mode", { mode: m });
    if (!res.ok) setProblem(await errorMessage(res));
  };
  return (
    <section class="hub-section" data-testid="hub-admin">
      <h2>People</h2>
      <div class="hub-row">
        <label class="hub-inline">
          Uses
          <input
            type="number"
            min="1"
            max="10000"
            value={uses()}
            onInput={(e) => setUses(Math.max(1, Number(e.currentTarget.value) || 1))}
          />
        </label>
        <label class="hub-inline">
          Valid for
          <select
            data-testid="hub-invite-ttl"
            value={String(ttl())}
            onChange={(e) => setTtl(Number(e.currentTarget.value))}
          >
            <For each={EXPIRIES}>{(x) => <option value={String(x.seconds)}>{x.label}</option>}</For>
          </select>
        </label>
        <button
          type="button"
          class="button"
          data-testid="hub-create-invite"
          onClick={() => void create()}
        >
          Create an invite link
        </button>
        <label class="hub-inline">
          Sign-up
          <select
            data-testid="hub-sign-up-mode"
            value={state()?.signUpMode ?? "invite"}
            onChange={(e) => void mode(e.currentTarget.value)}
          >
            <option value="invite">with an invite</option>
            <option value="open">open to anyone</option>
            <option value="closed">closed</option>
          </select>
        </label>
      </div>
      <Show when={link()}>
        <p class="hub-link">
          Send this link; it is shown once: <code data-testid="hub-invite-link">{link()}</code>
        </p>
      </Show>
      <Problem text={problem() ?? (page.error ? messageOf(page.error) : undefined)} />
      <Show when={(page()?.total ?? 0) > 0}>
        <table class="hub-table" data-testid="hub-invites">
          <thead>
            <tr>
              <th>Made</th>
              <th>Used</th>
              <th>Expires</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            <For each={page()?.invites ?? []}>
              {(i) => (
                <tr data-testid="hub-invite-row" data-invite={i.id} data-status={i.status}>
                  <td>{new Date(i.created).toLocaleString()}</td>
                  <td>
                    {i.used} of {i.uses}
                  </td>
                  <td>{i.expires ? new Date(i.expires).toLocaleString() : "never"}</td>
                  <td>{STATUS_WORDS[i.status]}</td>
                  <td>
                    <Show when={i.status === "open"}>
                      <button
                        type="button"
                        class="button"
                        data-testid="hub-invite-revoke"
                        onClick={() => void revoke(i.id)}
                      >
                        Revoke
                      </button>
                    </Show>
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
        <div class="hub-row">
          <Pager
            total={page()?.total ?? 0}
            offset={offset()}
            page={PAGE}
            one="invite"
            many="invites"
            onOffset={setOffset}
          />
        </div>
      </Show>
    </section>
  );
}
