/**
 * The CodeMirror 6 wrapper: owns one EditorView for one document session and destroys it in
 * onCleanup. Local edits go to the session; remote patches come back as transactions that
 * are not added to the undo history, so undo and redo only touch this user's own edits.
 * Others' cursors and selections are drawn with their names.
 */
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import {
  bracketMatching,
  defaultHighlightStyle,
  foldGutter,
  indentOnInput,
  syntaxHighlighting,
} from "@codemirror/language";
import { highlightSelectionMatches, openSearchPanel, searchKeymap } from "@codemirror/search";
import {
  Annotation,
  Compartment,
  EditorState,
  type Extension,
  RangeSetBuilder,
  StateEffect,
  StateField,
  Transaction,
} from "@codemirror/state";
import { oneDark } from "@codemirror/theme-one-dark";
import {
  Decoration,
  type DecorationSet,
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
  WidgetType,
} from "@codemirror/view";
import { createEffect, on, onCleanup, onMount } from "solid-js";
import { type DocPresence, diffEdits } from "../../../shared/docs.js";
import type { DocSession } from "./doc-session.js";
import { languageOf } from "./languages.js";

/** Marks transactions that carry others' changes (not ours to undo, not ours to send). */
const remoteChange = Annotation.define<boolean>();
/** Sets the others' cursors and selections an editor with `othersField` draws. */
export const setOthers = StateEffect.define<readonly DocPresence[]>();

class CursorWidget extends WidgetType {
  constructor(
    readonly name: string,
    readonly color: string,
  ) {
    super();
  }
  override eq(other: CursorWidget) {
    return other.name === this.name && other.color === this.color;
  }
  toDOM() {
    const el = document.createElement("span");
    el.className = "cm-remote-cursor";
    el.style.borderColor = this.color;
    const label = document.createElement("span");
    label.className = "cm-remote-name";
    label.style.background = this.color;
    label.textContent = this.name;
    el.append(label);
    return el;
  }
}

/** Draws others' cursors (with their names) and selections. */
export const othersField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    let next = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setOthers)) continue;
      const len = tr.state.doc.length;
      const ranges: { from: number; to: number; deco: Decoration }[] = [];
      for (const p of e.value) {
        const head = Math.min(p.head, len);
        const anchor = Math.min(p.anchor, len);
        const from = Math.min(head, anchor);
        const to = Math.max(head, anchor);
        if (to > from) {
          ranges.push({
            from,
            to,
            deco: Decoration.mark({
              attributes: { style: `background-color: ${p.color}33` },
              class: "cm-remote-selection",
            }),
          });
        }
        ranges.push({
          from: head,
          to: head,
          deco: Decoration.widget({ widget: new CursorWidget(p.name, p.color), side: 1 }),
        });
      }
      ranges.sort((a, b) => a.from - b.from || a.to - b.to);
      const b = new RangeSetBuilder<Decoration>();
      for (const r of ranges) b.add(r.from, r.to, r.deco);
      next = b.finish();
    }
    return next;
  },
  provide: (f) => EditorView.decorations.from(f),
});

function fontTheme(size: number): Extension {
  return EditorView.theme({
    "&": { fontSize: `${size}px`, height: "100%" },
    ".cm-scroller": { fontFamily: "var(--mono)" },
  });
}

export interface CodeEditorApi {
  /** The session rebased the text onto others' patches: show `text`. */
  applyRemote(text: string): void;
  /** Replaces the text as an edit of this user (undoable), e.g. a revert. */
  replace(text: string): void;
  focus(): void;
  openSearch(): void;
  /** Puts the cursor at the start of line `line` (1-based) and scrolls it to the middle. */
  gotoLine(line: number): void;
  /** The editor's text (the same as the session's local text). */
  text(): string;
  /** The line at the top of the editor's pane, 0-based, with the fraction of it scrolled past. */
  topLine(): number;
  /** Scrolls so that (0-based, fractional) line `line` is at the top of the pane. */
  scrollToLine(line: number): void;
  /** Calls `listener` whenever the editor's pane scrolls; returns the stop. */
  onScroll(listener: () => void): () => void;
}

/** What a viewer's editor is: neither changed by keys nor focusable for typing. */
function accessOf(readOnly: boolean): Extension {
  return readOnly ? [EditorState.readOnly.of(true), EditorView.editable.of(false)] : [];
}

export function CodeEditor(props: {
  path: string;
  session: DocSession;
  initial: string;
  fontSize: number;
  /** The page is dark: the editor uses a dark theme too. */
  dark: boolean;
  wrap: boolean;
  others: readonly DocPresence[];
  onSave(): void;
  /** The editor's whole text after every change, local or remote (a preview follows it). */
  onText?(text: string): void;
  /** Shown, not changed (a viewer's). */
  readOnly?: boolean;
  ref?: (api: CodeEditorApi) => void;
}) {
  let host!: HTMLDivElement;
  const language = new Compartment();
  const wrapping = new Compartment();
  const theme = new Compartment();
  const font = new Compartment();
  const access = new Compartment();
  let view: EditorView | undefined;

  /** Applies a rebase: the editor's text becomes `text`, as a remote change. */
  const applyRemote = (text: string) => {
    if (!view) return;
    const now = view.state.doc.toString();
    if (now === text) return;
    const changes = diffEdits(now, text);
    view.dispatch({
      changes,
      annotations: [remoteChange.of(true), Transaction.addToHistory.of(false)],
    });
  };

  onMount(() => {
    const state = EditorState.create({
      doc: props.initial,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        foldGutter(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        keymap.of([
          {
            key: "Mod-s",
            preventDefault: true,
            run: () => {
              props.onSave();
              return true;
            },
          },
          ...defaultKeymap,
          ...historyKeymap,
          ...searchKeymap,
          indentWithTab,
        ]),
        othersField,
        access.of(accessOf(props.readOnly === true)),
        language.of([]),
        wrapping.of(props.wrap ? EditorView.lineWrapping : []),
        theme.of(props.dark ? oneDark : []),
        font.of(fontTheme(props.fontSize)),
        EditorView.updateListener.of((u) => {
          const remote = u.transactions.some((t) => t.annotation(remoteChange));
          if (u.docChanged && !remote) props.session.edit(u.state.doc.toString());
          if (u.docChanged) props.onText?.(u.state.doc.toString());
          if (u.selectionSet || u.docChanged) {
            const sel = u.state.selection.main;
            props.session.select(sel.anchor, sel.head);
          }
        }),
      ],
    });
    view = new EditorView({ state, parent: host });
    const lang = languageOf(props.path);
    if (lang) {
      void lang.load().then((ext) => view?.dispatch({ effects: language.reconfigure(ext) }));
    }
    props.ref?.({
      applyRemote,
      replace: (text) => {
        if (!view) return;
        view.dispatch({ changes: diffEdits(view.state.doc.toString(), text) });
      },
      focus: () => view?.focus(),
      openSearch: () => view && openSearchPanel(view),
      gotoLine(line) {
        if (!view) return;
        const doc = view.state.doc;
        const at = doc.line(Math.min(Math.max(1, line), doc.lines)).from;
        view.dispatch({
          selection: { anchor: at },
          effects: EditorView.scrollIntoView(at, { y: "center" }),
        });
        view.focus();
      },
      text: () => view?.state.doc.toString() ?? "",
      topLine() {
        if (!view) return 0;
        // documentTop moves with the scroll: the pane's top, in the document's heights.
        const top = view.scrollDOM.getBoundingClientRect().top - view.documentTop;
        const block = view.lineBlockAtHeight(Math.max(0, top));
        const line = view.state.doc.lineAt(block.from).number - 1;
        return line + Math.min(1, Math.max(0, (top - block.top) / Math.max(1, block.height)));
      },
      scrollToLine(line) {
        if (!view) return;
        const doc = view.state.doc;
        const n = Math.min(doc.lines, Math.max(1, Math.floor(line) + 1));
        const block = view.lineBlockAt(doc.line(n).from);
        const offset =
          view.documentTop - view.scrollDOM.getBoundingClientRect().top + view.scrollDOM.scrollTop;
        view.scrollDOM.scrollTop = offset + block.top + (line - Math.floor(line)) * block.height;
      },
      onScroll(listener) {
        const el = view?.scrollDOM;
        el?.addEventListener("scroll", listener, { passive: true });
        return () => el?.removeEventListener("scroll", listener);
      },
    });
  });

  createEffect(
    on(
      () => props.wrap,
      (w) => view?.dispatch({ effects: wrapping.reconfigure(w ? EditorView.lineWrapping : []) }),
      { defer: true },
    ),
  );
  createEffect(
    on(
      () => props.dark,
      (d) => view?.dispatch({ effects: theme.reconfigure(d ? oneDark : []) }),
      { defer: true },
    ),
  );
  // A member made a viewer while the file is open stops editing at once (and back).
  createEffect(
    on(
      () => props.readOnly === true,
      (ro) => view?.dispatch({ effects: access.reconfigure(accessOf(ro)) }),
      { defer: true },
    ),
  );
  createEffect(
    on(
      () => props.fontSize,
      (size) => view?.dispatch({ effects: font.reconfigure(fontTheme(size)) }),
      { defer: true },
    ),
  );
  createEffect(
    on(
      () => props.others,
      (others) => view?.dispatch({ effects: setOthers.of(others) }),
    ),
  );

  onCleanup(() => {
    view?.destroy();
    view = undefined;
  });

  return <div class="code-editor" data-testid="code-editor" ref={host} />;
}
