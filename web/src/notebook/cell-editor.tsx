/**
 * One cell's CodeMirror editor: owns its EditorView while the cell is on screen and destroys
 * it in onCleanup (the list is virtualised, so only cells in view have one). Local edits go
 * to the notebook store; others' edits come back as transactions kept out of the undo
 * history. Edit-mode keys of JupyterLab are bound here, before CodeMirror's own.
 */
import {
  autocompletion,
  type CompletionContext,
  type CompletionResult,
  startCompletion,
} from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentMore } from "@codemirror/commands";
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  syntaxHighlighting,
} from "@codemirror/language";
import { Annotation, Compartment, EditorState, Transaction } from "@codemirror/state";
import { oneDark } from "@codemirror/theme-one-dark";
import { drawSelection, EditorView, keymap } from "@codemirror/view";
import { createEffect, on, onCleanup, onMount } from "solid-js";
import { type DocPresence, diffEdits } from "../../../shared/docs.js";
import { othersField, setOthers } from "../editor/code-editor.js";
import { languageOf } from "../editor/languages.js";

const remoteChange = Annotation.define<boolean>();

/** File extensions of notebook languages, to find their syntax mode. */
const EXTENSIONS: Record<string, string> = {
  python: "py",
  ipython: "py",
  python3: "py",
  r: "r",
  julia: "jl",
  javascript: "js",
  typescript: "ts",
  bash: "sh",
  sh: "sh",
  shell: "sh",
  "c++": "cpp",
  cpp: "cpp",
  c: "c",
  rust: "rs",
  go: "go",
  markdown: "md",
  latex: "tex",
};

export interface CellEditorKeys {
  escape(): void;
  runAndAdvance(): void;
  run(): void;
  split(at: number): void;
  save(): void;
}

export interface CellEditorApi {
  focus(): void;
}

/** What the kernel offers at a position of the cell's text (UTF-16 offsets, as here). */
export interface CellCompletions {
  matches: string[];
  cursorStart: number;
  cursorEnd: number;
}

/** Tab completes after a name or a dot (as JupyterLab does) and indents elsewhere. */
function completesHere(state: EditorState): boolean {
  const { main } = state.selection;
  if (!main.empty) return false;
  const before = state.sliceDoc(Math.max(0, main.head - 1), main.head);
  return /[\w.]/.test(before);
}

export function CellEditor(props: {
  id: string;
  text: string;
  /** "markdown", "raw" or the notebook's language. */
  language: string;
  dark: boolean;
  readOnly: boolean;
  /** Others' cursors and selections in this cell. */
  others: readonly DocPresence[];
  onEdit(text: string): void;
  onFocus(): void;
  onSelect(anchor: number, head: number): void;
  onRemote(apply: ((text: string) => void) | undefined): void;
  keys: CellEditorKeys;
  /** Tab: the kernel's completions (undefined: no kernel runs). */
  complete?(code: string, cursorPos: number): Promise<CellCompletions | undefined>;
  /** Shift-Tab: what the kernel knows of the name at the cursor. */
  inspect?(code: string, cursorPos: number): void;
  ref?(api: CellEditorApi): void;
}) {
  let host!: HTMLDivElement;
  let view: EditorView | undefined;
  const language = new Compartment();
  const theme = new Compartment();
  const kernelCompletions = async (c: CompletionContext): Promise<CompletionResult | null> => {
    const r = await props.complete?.(c.state.doc.toString(), c.pos).catch(() => undefined);
    if (!r || r.matches.length === 0) return null;
    return {
      from: r.cursorStart,
      to: r.cursorEnd,
      options: r.matches.map((label) => ({ label })),
      filter: false,
    };
  };
  onMount(() => {
    const k = props.keys;
    const state = EditorState.create({
      doc: props.text,
      extensions: [
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        autocompletion({ override: [kernelCompletions], activateOnTyping: false }),
        keymap.of([
          {
            key: "Escape",
            run: () => {
              k.escape();
              return true;
            },
          },
          {
            key: "Shift-Enter",
            run: () => {
              k.runAndAdvance();
              return true;
            },
          },
          {
            key: "Mod-s",
            run: () => {
              k.save();
              return true;
            },
          },
          {
            key: "Mod-Enter",
            run: () => {
              k.run();
              return true;
            },
          },
          {
            key: "Mod-Shift--",
            run: (v) => {
              k.split(v.state.selection.main.head);
              return true;
            },
          },
          {
            key: "Tab",
            run: (v) =>
              props.complete && completesHere(v.state) ? startCompletion(v) : indentMore(v),
          },
          {
            key: "Shift-Tab",
            run: (v) => {
              if (!props.inspect) return false;
              props.inspect(v.state.doc.toString(), v.state.selection.main.head);
              return true;
            },
          },
          ...defaultKeymap,
          ...historyKeymap,
        ]),
        othersField,
        language.of([]),
        theme.of(props.dark ? oneDark : []),
        EditorState.readOnly.of(props.readOnly),
        EditorView.editable.of(!props.readOnly),
        EditorView.updateListener.of((u) => {
          if (u.focusChanged && u.view.hasFocus) props.onFocus();
          if ((u.selectionSet || u.docChanged) && u.view.hasFocus) {
            const m = u.state.selection.main;
            props.onSelect(m.anchor, m.head);
          }
          if (!u.docChanged) return;
          if (u.transactions.some((t) => t.annotation(remoteChange))) return;
          props.onEdit(u.state.doc.toString());
        }),
      ],
    });
    view = new EditorView({ state, parent: host });
    props.onRemote((text) => {
      if (!view) return;
      const cur = view.state.doc.toString();
      if (cur === text) return;
      view.dispatch({
        changes: diffEdits(cur, text),
        annotations: [remoteChange.of(true), Transaction.addToHistory.of(false)],
      });
    });
    props.ref?.({ focus: () => view?.focus() });
    view.dispatch({ effects: setOthers.of(props.others) });
  });
  createEffect(
    on(
      () => props.others,
      (others) => view?.dispatch({ effects: setOthers.of(others) }),
      { defer: true },
    ),
  );
  createEffect(
    on(
      () => props.language,
      (lang) => {
        const ext = EXTENSIONS[lang] ?? lang;
        const mode = languageOf(`cell.${ext}`);
        if (!mode) {
          view?.dispatch({ effects: language.reconfigure([]) });
          return;
        }
        void mode.load().then((e) => view?.dispatch({ effects: language.reconfigure(e) }));
      },
    ),
  );
  createEffect(
    on(
      () => props.dark,
      (d) => view?.dispatch({ effects: theme.reconfigure(d ? oneDark : []) }),
      { defer: true },
    ),
  );
  onCleanup(() => {
    props.onRemote(undefined);
    view?.destroy();
    view = undefined;
  });
  return <div class="nb-editor" data-testid="nb-editor" ref={host} />;
}
