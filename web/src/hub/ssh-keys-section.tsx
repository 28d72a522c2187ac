/**
 * The dashboard's SSH keys: the signed-in account's public keys (name, type, fingerprint,
 * when added; at most 32, so one short table), one added with a name, one removed; and how to
 * use them (`ssh -p <hub port + 1> WSID@HUB`).
 */
import { createResource, createSignal, For, Show } from "solid-js";
import type { SshKeyView } from "../../../shared/hub-ssh.js";
import { apiFetch, errorMessage, postJson } from "../lib/session.js";

const PATH = "/api/hub/ssh-keys";

async function keysOf(res: Response): Promise<SshKeyView[]> {
  if (!res.ok) throw new Error(await errorMessage(res));
  return ((await res.json()) as { keys: SshKeyView[] }).keys;
}

export function SshKeysSection() {
  const [keys, { mutate }] = createResource(async () =>
    keysOf(await apiFetch(PATH, { cache: "no-store" })),
  );
  const [name, setName] = createSignal("");
  const [key, setKey] = createSignal("");
  const [problem, setProblem] = createSignal<string>();
  const sshPort = Number(location.port || (location.protocol === "https:" ? 443 : 80)) + 1;
  const add = async (e: Event) => {
    e.preventDefault();
    setProblem(undefined);
    try {
      mutate(await keysOf(await postJson(PATH, { name: name().trim(), key: key().trim() })));
      setName("");
      setKey("");
    } catch (err) {
      setProblem((err as Error).message);
    }
  };
  const remove = async (n: string) => {
    setProblem(undefined);
    try {
      mutate(await keysOf(await postJson(`${PATH}/remove`, { name: n })));
    } catch (err) {
      setProblem((err as Error).message);
    }
  };
  return (
    <section class="hub-section" data-testid="hub-ssh-keys">
      <h2>SSH keys</h2>
      <p class="muted">
        With a key here,{" "}
        <code>
          ssh -p {sshPort} WSID@{location.hostname}
        </code>{" "}
        opens a shell in a workspace you own or collaborate on; exec, sftp, scp, rsync and{" "}
        <code>-L</code> work too.
      </p>
      <Show
        when={(keys() ?? []).length > 0}
        fallback={
          <p class="muted" data-testid="hub-ssh-keys-none">
            {keys.loading ? "Loading…" : "No keys yet."}
          </p>
        }
      >
        <table class="hub-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Type</th>
              <th>Fingerprint</th>
              <th>Added</th>
              <th />
            </tr>
          </thead>
          <tbody>
            <For each={keys()}>
              {(k) => (
                <tr data-testid="hub-ssh-key">
                  <td>{k.name}</td>
                  <td>{k.type}</td>
                  <td>
                    <code>{k.fingerprint}</code>
                  </td>
                  <td>{new Date(k.added).toLocaleString()}</td>
                  <td>
                    <button
                      type="button"
                      class="button"
                      data-testid="hub-ssh-key-remove"
                      onClick={() => void remove(k.name)}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </Show>
      <form class="hub-row" onSubmit={add}>
        <label class="hub-inline">
          Name
          <input
            data-testid="hub-ssh-key-name"
            placeholder="laptop"
            value={name()}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        <label class="hub-inline">
          Public key
          <input
            data-testid="hub-ssh-key-text"
            placeholder="ssh-ed25519 AAAA… (one line of ~/.ssh/id_ed25519.pub)"
            style={{ width: "min(36em, 60vw)" }}
            value={key()}
            onInput={(e) => setKey(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="button" data-testid="hub-ssh-key-add">
          Add key
        </button>
      </form>
      <Show when={problem()}>
        <p class="hub-problem" role="alert" data-testid="hub-ssh-key-problem">
          {problem()}
        </p>
      </Show>
    </section>
  );
}
