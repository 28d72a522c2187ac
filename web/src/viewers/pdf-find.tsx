/**
 * Search in a PDF: pdf.js's find controller does the finding and highlights every match; this
 * keeps the query and what the controller says ("2 of 5", not found) and draws the field with
 * its previous / next buttons (Enter, Shift-Enter).
 */
import type { EventBus, FindState } from "pdfjs-dist/web/pdf_viewer.mjs";
import { type Accessor, createSignal } from "solid-js";

export interface Found {
  current: number;
  total: number;
  state: "found" | "not-found" | "wrapped" | "pending" | "idle";
}

export interface PdfFind {
  query: Accessor<string>;
  found: Accessor<Found>;
  /** A new query: searched from the current page. */
  search(query: string): void;
  /** The next (or previous) match of the query. */
  step(previous: boolean): void;
  /** The query again, in a new document (a reload). */
  again(): void;
  /** Starts listening to a viewer's event bus. */
  attach(bus: EventBus, states: typeof FindState): void;
}

interface Counts {
  current: number;
  total: number;
}

export function createPdfFind(): PdfFind {
  const [query, setQuery] = createSignal("");
  const [found, setFound] = createSignal<Found>({ current: 0, total: 0, state: "idle" });
  let bus: EventBus | undefined;

  function find(type: "" | "again", previous: boolean) {
    if (!bus) return;
    if (!query()) {
      bus.dispatch("findbarclose", { source: null });
      setFound({ current: 0, total: 0, state: "idle" });
      return;
    }
    bus.dispatch("find", {
      source: null,
      type,
      query: query(),
      caseSensitive: false,
      entireWord: false,
      highlightAll: true,
      findPrevious: previous,
      matchDiacritics: false,
    });
  }

  return {
    query,
    found,
    search(q) {
      setQuery(q);
      find("", false);
    },
    step: (previous) => find("again", previous),
    again() {
      if (query()) find("again", false);
    },
    attach(b, S) {
      bus = b;
      b.on("updatefindmatchescount", (e: { matchesCount: Counts }) =>
        setFound({ ...found(), ...e.matchesCount }),
      );
      b.on("updatefindcontrolstate", (e: { state: number; matchesCount: Counts }) => {
        const state =
          e.state === S.FOUND
            ? "found"
            : e.state === S.NOT_FOUND
              ? "not-found"
              : e.state === S.WRAPPED
                ? "wrapped"
                : "pending";
        setFound({ current: e.matchesCount.current, total: e.matchesCount.total, state });
      });
    },
  };
}

function foundText(f: Found): string {
  if (f.state === "idle") return "";
  if (f.state === "pending" && f.total === 0) return "Searching…";
  if (f.total === 0) return "Not found";
  return `${f.current} of ${f.total}`;
}

export function PdfFindBar(props: { finding: PdfFind; ref: (input: HTMLInputElement) => void }) {
  const f = props.finding;
  return (
    <>
      <input
        type="search"
        class="pdf-search"
        placeholder="Search"
        aria-label="Search in the PDF"
        data-testid="pdf-search"
        ref={props.ref}
        value={f.query()}
        onInput={(e) => f.search(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            f.step(e.shiftKey);
          }
        }}
      />
      <span class="viewer-info pdf-found" data-testid="pdf-found" data-state={f.found().state}>
        {foundText(f.found())}
      </span>
      <button
        type="button"
        class="icon-button"
        title="Previous match (Shift-Enter)"
        aria-label="Previous match"
        data-testid="pdf-find-prev"
        disabled={!f.query()}
        onClick={() => f.step(true)}
      >
        ↑
      </button>
      <button
        type="button"
        class="icon-button"
        title="Next match (Enter)"
        aria-label="Next match"
        data-testid="pdf-find-next"
        disabled={!f.query()}
        onClick={() => f.step(false)}
      >
        ↓
      </button>
    </>
  );
}
