/**
 * One host's images on the admin pages: its images a page at a time (name, size, when
 * imported), and an import onto it from the hub's images directory with the host's progress
 * shown as it comes and how it ended, in words.
 */
import { createResource, createSignal, For, Show } from "solid-js";
import type { ImageSource, ImageView } from "../../../shared/launchpad.js";
import { messageOf } from "../lib/delay.js";
import { apiFetch, errorMessage } from "../lib/session.js";
import { Pager } from "./pager.js";
import { formatMb } from "./workspace-status.js";

const PAGE = 10;
/** Progress lines kept on the page (the newest). */
const LINES = 8;

async function getJson<T>(path: string): Promise<T> {
  const res = await apiFetch(path, { cache: "no-store" });
  if (!res.ok) throw new Error(await errorMessage(res));
  return (await res.json()) as T;
}

type Streamed = { line: string } | { ok: true } | { ok: false; error: { message: string } };

/**
 * POSTs `body` and hands each line of the NDJSON answer to `onLine`; the last one says how it
 * ended. An error answer before the stream (not an admin, bad input) throws its message.
 */
async function postStreamed(
  path: string,
  body: unknown,
  onLine: (v: Streamed) => void,
): Promise<void> {
  const res = await apiFetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    cache: "no-store",
  });
  if (!res.ok || !res.body) throw new Error(await errorMessage(res));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
      const text = buffered.slice(0, i).trim();
      buffered = buffered.slice(i + 1);
      if (text) onLine(JSON.parse(text) as Streamed);
    }
  }
}

export function HostImages(props: { hostId: string; onImported: () => void }) {
  const [offset, setOffset] = createSignal(0);
  const [page, { refetch }] = createResource(
    () => ({ hostId: props.hostId, offset: offset() }),
    (k) =>
      getJson<{ total: number; images: ImageView[] }>(
        `/api/hub/admin/hosts/${k.hostId}/images?offset=${k.offset}&limit=${PAGE}`,
      ),
  );
  const [sources] = createResource(() =>
    getJson<{ sources: ImageSource[] }>("/api/hub/admin/image-sources").then((r) => r.sources),
  );
  const [source, setSource] = createSignal("");
  const [name, setName] = createSignal("");
  const [lines, setLines] = createSignal<string[]>([]);
  const [busy, setBusy] = createSignal(false);
  const [result, setResult] = createSignal<{ ok: boolean; text: string }>();
  const chosen = () => sources()?.find((s) => s.path === source());

  const startImport = async (e: Event) => {
    e.preventDefault();
    const from = chosen();
    if (!from) return;
    const as = name().trim() || from.name;
    setBusy(true);
    setLines([]);
    setResult(undefined);
    try {
      await postStreamed(
        `/api/hub/admin/hosts/${props.hostId}/images`,
        { name: as, source: from.path },
        (v) => {
          if ("line" in v) setLines([...lines(), v.line].slice(-LINES));
          else if (v.ok) setResult({ ok: true, text: `image ${as} imported on ${props.hostId}` });
          else setResult({ ok: false, text: `the import failed: ${v.error.message}` });
        },
      );
      if (!result())
        setResult({ ok: false, text: "the import ended without saying how: list the images" });
    } catch (err) {
      setResult({ ok: false, text: `the import failed: ${messageOf(err)}` });
    } finally {
      setBusy(false);
      await refetch();
      props.onImported();
    }
  };

  return (
    <div class="hub-panel" data-testid="hub-host-images" data-host={props.hostId}>
      <strong>Images on {props.hostId}</strong>
      <Show when={page.error}>
        <p class="hub-problem" role="alert">
          {messageOf(page.error)}
        </p>
      </Show>
      <table class="hub-table">
        <thead>
          <tr>
            <th>Image</th>
            <th>Size</th>
            <th>Imported</th>
            <th>Description</th>
          </tr>
        </thead>
        <tbody>
          <For
            each={page()?.images ?? []}
            fallback={
              <tr>
                <td colSpan={4} class="muted">
                  {page.loading ? "…" : "no images"}
                </td>
              </tr>
            }
          >
            {(i) => (
              <tr data-testid="hub-host-image" data-name={i.name}>
                <td>{i.name}</td>
                <td>{formatMb(i.sizeMb)}</td>
                <td>{new Date(i.addedAt).toLocaleString()}</td>
                <td>{i.description}</td>
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
          one="image"
          many="images"
          onOffset={setOffset}
        />
      </div>
      <form class="hub-row" onSubmit={startImport}>
        <label class="hub-inline">
          Import from
          <select
            data-testid="hub-image-source"
            value={source()}
            disabled={busy()}
            onChange={(e) => setSource(e.currentTarget.value)}
          >
            <option value="">
              {sources.loading ? "…" : `${sources()?.length ?? 0} in the hub's images directory`}
            </option>
            <For each={sources() ?? []}>
              {(s) => (
                <option value={s.path}>
                  {s.name} ({s.path})
                </option>
              )}
            </For>
          </select>
        </label>
        <label class="hub-inline">
          as
          <input
            data-testid="hub-image-name"
            placeholder={chosen()?.name ?? "name"}
            value={name()}
            disabled={busy()}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        <button
          type="submit"
          class="button"
          data-testid="hub-image-import"
          disabled={busy() || !chosen()}
        >
          {busy() ? "Importing…" : "Import"}
        </button>
      </form>
      <Show when={sources.error}>
        <p class="hub-problem" role="alert">
          {messageOf(sources.error)}
        </p>
      </Show>
      <Show when={lines().length > 0}>
        <ul class="hub-progress" data-testid="hub-image-progress" aria-live="polite">
          <For each={lines()}>{(l) => <li>{l}</li>}</For>
        </ul>
      </Show>
      <Show when={result()}>
        {(r) => (
          <p
            class={r().ok ? "muted" : "hub-problem"}
            role={r().ok ? "status" : "alert"}
            data-testid="hub-image-result"
            data-ok={String(r().ok)}
          >
            {r().text}
          </p>
        )}
      </Show>
    </div>
  );
}
