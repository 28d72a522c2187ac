/** The Settings tab: edits the workspace's settings through ChangeSettings commands. */
import { createSignal, For, type JSX, onCleanup, Show } from "solid-js";
import type { CommandReply } from "../../../shared/commands.js";
import type { ErrorPayload } from "../../../shared/errors.js";
import {
  type AgentMode,
  AgentModes,
  appearanceOf,
  FONT_SIZES,
  type SettingsChange,
  type Theme,
  Themes,
} from "../../../shared/workspace.js";
import { AgentKeysForm } from "../agents/agent-keys-form.js";
import { type SettingsRecord, useSettings } from "../stores/settings-store.js";
import { SignInSection } from "./sign-in-section.js";

type Field =
  | "title"
  | "color"
  | "defaultShell"
  | "agent"
  | "model"
  | "mode"
  | "theme"
  | "editorFontSize"
  | "terminalFontSize";

const THEME_LABELS: Record<Theme, string> = {
  system: "Like the browser",
  light: "Light",
  dark: "Dark",
};

const MODE_LABELS: Record<AgentMode, string> = {
  "full-access": "Full access",
  "workspace-write": "Write inside the workspace",
  "read-only": "Read only",
};

/** Save state of one field: what the last command did. */
function createFieldSaver(send: (change: SettingsChange) => Promise<CommandReply>) {
  const [status, setStatus] = createSignal<"idle" | "saving" | "saved" | "error">("idle");
  const [error, setError] = createSignal<ErrorPayload>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  onCleanup(() => clearTimeout(timer));
  async function save(change: SettingsChange): Promise<boolean> {
    clearTimeout(timer);
    setStatus("saving");
    const reply = await send(change);
    if (reply.ok) {
      setError(undefined);
      setStatus("saved");
      timer = setTimeout(() => setStatus("idle"), 1500);
      return true;
    }
    setError(reply.error);
    setStatus("error");
    return false;
  }
  /** Forgets the last failure, e.g. when the user goes back to the stored value. */
  function clear() {
    setError(undefined);
    if (status() === "error") setStatus("idle");
  }
  return { status, error, save, clear };
}

type FieldSaver = ReturnType<typeof createFieldSaver>;

export function SettingsForm() {
  const settings = useSettings();
  return (
    <div class="settings-page">
      <Show when={settings.state.problem}>
        <p class="banner banner-warn" role="status">
          Settings are not updating: {settings.state.problem} (retrying)
        </p>
      </Show>
      <Show
        when={settings.state.view}
        fallback={
          <div class="loading" data-testid="settings-loading">
            loading…
          </div>
        }
      >
        {(view) => <SettingsFields view={view()} />}
      </Show>
      <SignInSection />
    </div>
  );
}

function SettingsFields(props: { view: SettingsRecord }) {
  const settings = useSettings();
  const send = (change: SettingsChange) => settings.change(change);
  const savers = {
    title: createFieldSaver(send),
    color: createFieldSaver(send),
    defaultShell: createFieldSaver(send),
    agent: createFieldSaver(send),
    model: createFieldSaver(send),
    mode: createFieldSaver(send),
    theme: createFieldSaver(send),
    editorFontSize: createFieldSaver(send),
    terminalFontSize: createFieldSaver(send),
  } satisfies Record<Field, FieldSaver>;
  const s = () => props.view.settings;
  const look = () => appearanceOf(s());

  // Dragging in a colour picker fires many input events: keep at most one command in
  // flight and always finish with the last colour picked.
  let colorInFlight = false;
  let colorPending: string | undefined;
  async function sendColor(input: HTMLInputElement) {
    colorPending = input.value;
    if (colorInFlight) return;
    colorInFlight = true;
    while (colorPending !== undefined) {
      const next = colorPending;
      colorPending = undefined;
      if (next.toLowerCase() === s().color.toLowerCase()) continue;
      const ok = await savers.color.save({ color: next });
      // The swatch must not show a colour the workspace does not have.
      if (!ok && colorPending === undefined) input.value = s().color;
    }
    colorInFlight = false;
  }

  return (
    <form class="settings-form" data-testid="settings-form" onSubmit={(e) => e.preventDefault()}>
      <section class="settings-section">
        <h2>Workspace</h2>
        <Row label="Title" for="settings-title" saver={savers.title} field="title">
          <TextInput
            id="settings-title"
            testid="settings-title"
            value={s().title}
            maxLength={100}
            onCommit={(title) => savers.title.save({ title })}
            onRevert={savers.title.clear}
          />
        </Row>
        <Row label="Colour" for="settings-color" saver={savers.color} field="color">
          <div class="color-field">
            <input
              id="settings-color"
              type="color"
              data-testid="settings-color"
              value={s().color}
              onInput={(e) => void sendColor(e.currentTarget)}
            />
            <code class="color-value">{s().color}</code>
          </div>
        </Row>
        <Row
          label="Default shell"
          for="settings-shell"
          saver={savers.defaultShell}
          field="defaultShell"
        >
          <TextInput
            id="settings-shell"
            testid="settings-shell"
            value={s().defaultShell}
            placeholder="$SHELL"
            maxLength={300}
            mono
            onCommit={(defaultShell) => savers.defaultShell.save({ defaultShell })}
            onRevert={savers.defaultShell.clear}
          />
        </Row>
      </section>

      <section class="settings-section">
        <h2>Agent defaults</h2>
        <Row label="Agent" for="settings-agent" saver={savers.agent} field="agent">
          <TextInput
            id="settings-agent"
            testid="settings-agent"
            value={s().agentDefaults.agent}
            placeholder="codex, claude-code, …"
            maxLength={200}
            onCommit={(agent) => savers.agent.save({ agentDefaults: { agent } })}
            onRevert={savers.agent.clear}
          />
        </Row>
        <Row label="Model" for="settings-model" saver={savers.model} field="model">
          <TextInput
            id="settings-model"
            testid="settings-model"
            value={s().agentDefaults.model}
            placeholder="the agent's default"
            maxLength={200}
            onCommit={(model) => savers.model.save({ agentDefaults: { model } })}
            onRevert={savers.model.clear}
          />
        </Row>
        <Row label="Mode" for="settings-mode" saver={savers.mode} field="mode">
          <select
            id="settings-mode"
            data-testid="settings-mode"
            value={s().agentDefaults.mode}
            onChange={(e) => {
              const select = e.currentTarget;
              const mode = select.value as AgentMode;
              void savers.mode.save({ agentDefaults: { mode } }).then((ok) => {
                if (!ok) select.value = s().agentDefaults.mode;
              });
            }}
          >
            <For each={AgentModes}>
              {(mode) => <option value={mode}>{MODE_LABELS[mode]}</option>}
            </For>
          </select>
        </Row>
        <div class="settings-agent-keys">
          <p class="muted">
            Used by every thread's agent (a thread's Environment can override one); plus
            authenticates with them when the agent asks for a key (Codex: OPENAI_API_KEY or
            CODEX_API_KEY; Claude Code: ANTHROPIC_API_KEY).
          </p>
          <AgentKeysForm />
        </div>
      </section>

      <section class="settings-section">
        <h2>Appearance</h2>
        <Row label="Theme" for="settings-theme" saver={savers.theme} field="theme">
          <select
            id="settings-theme"
            data-testid="settings-theme"
            value={look().theme}
            onChange={(e) => {
              const select = e.currentTarget;
              const theme = select.value as Theme;
              void savers.theme.save({ appearance: { theme } }).then((ok) => {
                if (!ok) select.value = look().theme;
              });
            }}
          >
            <For each={Themes}>{(t) => <option value={t}>{THEME_LABELS[t]}</option>}</For>
          </select>
        </Row>
        <Row
          label="Editor font size"
          for="settings-editor-font"
          saver={savers.editorFontSize}
          field="editorFontSize"
        >
          <FontSizeInput
            id="settings-editor-font"
            value={look().editorFontSize}
            onCommit={(editorFontSize) =>
              savers.editorFontSize.save({ appearance: { editorFontSize } })
            }
          />
        </Row>
        <Row
          label="Terminal font size"
          for="settings-terminal-font"
          saver={savers.terminalFontSize}
          field="terminalFontSize"
        >
          <FontSizeInput
            id="settings-terminal-font"
            value={look().terminalFontSize}
            onCommit={(terminalFontSize) =>
              savers.terminalFontSize.save({ appearance: { terminalFontSize } })
            }
          />
        </Row>
      </section>

      <p class="settings-footnote">
        Last changed {formatTime(props.view.updatedAt)} by {props.view.updatedBy}
      </p>
    </form>
  );
}

function Row(props: {
  label: string;
  for: string;
  field: Field;
  saver: FieldSaver;
  children: JSX.Element;
}) {
  return (
    <div class="settings-row" data-field={props.field}>
      <label for={props.for}>{props.label}</label>
      <div class="settings-control">
        {props.children}
        <span class="save-status" data-status={props.saver.status()} aria-live="polite">
          {props.saver.status() === "saving"
            ? "saving…"
            : props.saver.status() === "saved"
              ? "saved"
              : ""}
        </span>
      </div>
      <Show when={props.saver.error()}>
        {(error) => (
          <p class="field-error" role="alert" data-testid="settings-error" data-field={props.field}>
            {error().message} <code>{error().code}</code>
          </p>
        )}
      </Show>
    </div>
  );
}

/** A font size in px; the command refuses what is out of range, and the field goes back. */
function FontSizeInput(props: {
  id: string;
  value: number;
  onCommit: (value: number) => Promise<boolean>;
}) {
  const commit = (input: HTMLInputElement) => {
    const value = Number(input.value);
    if (value === props.value) return;
    void props.onCommit(value).then((ok) => {
      if (!ok) input.value = String(props.value);
    });
  };
  return (
    <input
      id={props.id}
      type="number"
      data-testid={props.id}
      value={props.value}
      min={FONT_SIZES.min}
      max={FONT_SIZES.max}
      step={1}
      onChange={(e) => commit(e.currentTarget)}
    />
  );
}

/** A text field that sends on blur or Enter and goes back to the stored value on Escape. */
function TextInput(props: {
  id: string;
  testid: string;
  value: string;
  placeholder?: string;
  maxLength?: number;
  mono?: boolean;
  onCommit: (value: string) => Promise<boolean>;
  onRevert: () => void;
}) {
  const commit = (input: HTMLInputElement) => {
    const value = input.value.trim();
    if (value === props.value) {
      input.value = props.value;
      props.onRevert();
      return;
    }
    void props.onCommit(value);
  };
  return (
    <input
      id={props.id}
      type="text"
      class={props.mono ? "mono" : undefined}
      data-testid={props.testid}
      value={props.value}
      placeholder={props.placeholder}
      maxLength={props.maxLength}
      autocomplete="off"
      spellcheck={false}
      onBlur={(e) => commit(e.currentTarget)}
      onKeyDown={(e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          commit(e.currentTarget);
        } else if (e.key === "Escape") {
          e.currentTarget.value = props.value;
          props.onRevert();
        }
      }}
    />
  );
}

function formatTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toLocaleString();
}
