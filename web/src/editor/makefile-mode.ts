/**
 * A stream mode for Makefiles (the legacy modes have none): comments, directives, rule
 * targets, variable assignments, `$(…)` / `${…}` / `$@` references, and recipe lines (those
 * starting with a tab) with their strings.
 */
import type { StreamParser } from "@codemirror/language";

interface MakeState {
  /** Inside a recipe line (it started with a tab). */
  recipe: boolean;
  /** Depth of `$(` / `${` being read. */
  depth: number;
  /** Nothing but whitespace was read on this line yet. */
  lineStart: boolean;
}

const DIRECTIVES = new Set([
  "include",
  "-include",
  "sinclude",
  "ifeq",
  "ifneq",
  "ifdef",
  "ifndef",
  "else",
  "endif",
  "define",
  "endef",
  "export",
  "unexport",
  "override",
  "private",
  "vpath",
]);

function reference(stream: Parameters<StreamParser<MakeState>["token"]>[0], state: MakeState) {
  // After `$`: an automatic variable, or an opening bracket.
  if (stream.eat("(") || stream.eat("{")) {
    state.depth++;
    stream.eatWhile(/[\w.-]/);
    return "variableName.special";
  }
  stream.next();
  return "variableName.special";
}

export const makefile: StreamParser<MakeState> = {
  name: "makefile",
  startState: () => ({ recipe: false, depth: 0, lineStart: true }),
  token(stream, state) {
    if (stream.sol()) {
      state.lineStart = true;
      state.recipe = stream.peek() === "\t";
      state.depth = 0;
    }
    if (stream.eatSpace()) return null;
    const start = state.lineStart;
    state.lineStart = false;
    if (stream.peek() === "#" && state.depth === 0) {
      stream.skipToEnd();
      return "comment";
    }
    if (stream.eat("$")) {
      if (stream.eat("$")) return "string.special";
      return reference(stream, state);
    }
    if (state.depth > 0 && (stream.peek() === ")" || stream.peek() === "}")) {
      stream.next();
      state.depth--;
      return "variableName.special";
    }
    if (state.recipe) {
      const q = stream.peek();
      if (q === '"' || q === "'") {
        stream.next();
        let escaped = false;
        for (let c = stream.next(); c !== undefined && c !== null; c = stream.next()) {
          if (c === q && !escaped) break;
          escaped = !escaped && c === "\\";
        }
        return "string";
      }
      if (start && (stream.eat("@") || stream.eat("-"))) return "operator";
      stream.eatWhile(/[^\s$"'#]/);
      return null;
    }
    if (start) {
      const word = stream.match(/^-?[\w.%/-]+/, false) as RegExpMatchArray | null;
      if (word && DIRECTIVES.has(word[0])) {
        stream.match(word[0]);
        return "keyword";
      }
      // `target: deps`, `VAR = value`, `VAR := value`…
      if (stream.match(/^[^\s:=#$]+(?=\s*(::?=|\?=|\+=|!=|=))/)) return "def";
      if (stream.match(/^[^\s:=#$][^:=#$]*(?=::?(?!=))/)) return "labelName";
    }
    if (stream.match(/^(::?=|\?=|\+=|!=|=|::?)/)) return "operator";
    stream.next();
    stream.eatWhile(/[^\s$#:=()}{]/);
    return null;
  },
  languageData: { commentTokens: { line: "#" } },
};
