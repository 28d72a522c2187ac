/** Syntax modes by file name, loaded on demand (each one is its own chunk). */

import type { StreamParser } from "@codemirror/language";
import type { Extension } from "@codemirror/state";
import { extensionOf } from "../../../shared/paths.js";

type Loader = () => Promise<Extension>;

const legacy = async (load: () => Promise<StreamParser<unknown>>) => {
  const [{ StreamLanguage }, mode] = await Promise.all([import("@codemirror/language"), load()]);
  return StreamLanguage.define(mode);
};

const python: Loader = async () => (await import("@codemirror/lang-python")).python();
const js =
  (typescript: boolean, jsx: boolean): Loader =>
  async () =>
    (await import("@codemirror/lang-javascript")).javascript({ typescript, jsx });
const json: Loader = async () => (await import("@codemirror/lang-json")).json();
const markdown: Loader = async () => (await import("@codemirror/lang-markdown")).markdown();
const html: Loader = async () => (await import("@codemirror/lang-html")).html();
const css: Loader = async () => (await import("@codemirror/lang-css")).css();
const yaml: Loader = async () => (await import("@codemirror/lang-yaml")).yaml();
const cpp: Loader = async () => (await import("@codemirror/lang-cpp")).cpp();
const rust: Loader = async () => (await import("@codemirror/lang-rust")).rust();
const go: Loader = async () => (await import("@codemirror/lang-go")).go();
const shell: Loader = () =>
  legacy(async () => (await import("@codemirror/legacy-modes/mode/shell")).shell);
const latex: Loader = () =>
  legacy(async () => (await import("@codemirror/legacy-modes/mode/stex")).stex);
const julia: Loader = () =>
  legacy(async () => (await import("@codemirror/legacy-modes/mode/julia")).julia);
const r: Loader = () => legacy(async () => (await import("@codemirror/legacy-modes/mode/r")).r);
const java: Loader = async () => (await import("@codemirror/lang-java")).java();
const sql: Loader = async () => (await import("@codemirror/lang-sql")).sql();
const xml: Loader = async () => (await import("@codemirror/lang-xml")).xml();
const php: Loader = async () => (await import("@codemirror/lang-php")).php();
const dockerfile: Loader = () =>
  legacy(async () => (await import("@codemirror/legacy-modes/mode/dockerfile")).dockerFile);
const toml: Loader = () =>
  legacy(async () => (await import("@codemirror/legacy-modes/mode/toml")).toml);
const lua: Loader = () =>
  legacy(async () => (await import("@codemirror/legacy-modes/mode/lua")).lua);
const ruby: Loader = () =>
  legacy(async () => (await import("@codemirror/legacy-modes/mode/ruby")).ruby);
const perl: Loader = () =>
  legacy(async () => (await import("@codemirror/legacy-modes/mode/perl")).perl);
const makefile: Loader = () => legacy(async () => (await import("./makefile-mode.js")).makefile);

const BY_EXTENSION: Record<string, { name: string; load: Loader }> = {
  py: { name: "Python", load: python },
  pyi: { name: "Python", load: python },
  js: { name: "JavaScript", load: js(false, false) },
  mjs: { name: "JavaScript", load: js(false, false) },
  cjs: { name: "JavaScript", load: js(false, false) },
  jsx: { name: "JavaScript (JSX)", load: js(false, true) },
  ts: { name: "TypeScript", load: js(true, false) },
  mts: { name: "TypeScript", load: js(true, false) },
  cts: { name: "TypeScript", load: js(true, false) },
  tsx: { name: "TypeScript (TSX)", load: js(true, true) },
  json: { name: "JSON", load: json },
  md: { name: "Markdown", load: markdown },
  markdown: { name: "Markdown", load: markdown },
  html: { name: "HTML", load: html },
  htm: { name: "HTML", load: html },
  css: { name: "CSS", load: css },
  sh: { name: "Shell", load: shell },
  bash: { name: "Shell", load: shell },
  zsh: { name: "Shell", load: shell },
  yaml: { name: "YAML", load: yaml },
  yml: { name: "YAML", load: yaml },
  tex: { name: "LaTeX", load: latex },
  latex: { name: "LaTeX", load: latex },
  sty: { name: "LaTeX", load: latex },
  cls: { name: "LaTeX", load: latex },
  jl: { name: "Julia", load: julia },
  r: { name: "R", load: r },
  c: { name: "C", load: cpp },
  h: { name: "C", load: cpp },
  cc: { name: "C++", load: cpp },
  cpp: { name: "C++", load: cpp },
  cxx: { name: "C++", load: cpp },
  hpp: { name: "C++", load: cpp },
  hh: { name: "C++", load: cpp },
  rs: { name: "Rust", load: rust },
  go: { name: "Go", load: go },
  java: { name: "Java", load: java },
  sql: { name: "SQL", load: sql },
  xml: { name: "XML", load: xml },
  xsd: { name: "XML", load: xml },
  xsl: { name: "XML", load: xml },
  xslt: { name: "XML", load: xml },
  svg: { name: "XML", load: xml },
  plist: { name: "XML", load: xml },
  php: { name: "PHP", load: php },
  dockerfile: { name: "Dockerfile", load: dockerfile },
  toml: { name: "TOML", load: toml },
  lua: { name: "Lua", load: lua },
  rb: { name: "Ruby", load: ruby },
  rake: { name: "Ruby", load: ruby },
  gemspec: { name: "Ruby", load: ruby },
  pl: { name: "Perl", load: perl },
  pm: { name: "Perl", load: perl },
  mk: { name: "Makefile", load: makefile },
  mak: { name: "Makefile", load: makefile },
  ksh: { name: "Shell", load: shell },
  rmd: { name: "R", load: r },
  bib: { name: "LaTeX", load: latex },
};

const BY_NAME: Record<string, { name: string; load: Loader }> = {
  ".bashrc": { name: "Shell", load: shell },
  ".profile": { name: "Shell", load: shell },
  ".bash_profile": { name: "Shell", load: shell },
  ".zshrc": { name: "Shell", load: shell },
  ".bash_logout": { name: "Shell", load: shell },
  ".bash_aliases": { name: "Shell", load: shell },
  Dockerfile: { name: "Dockerfile", load: dockerfile },
  Containerfile: { name: "Dockerfile", load: dockerfile },
  Makefile: { name: "Makefile", load: makefile },
  makefile: { name: "Makefile", load: makefile },
  GNUmakefile: { name: "Makefile", load: makefile },
  Gemfile: { name: "Ruby", load: ruby },
  Rakefile: { name: "Ruby", load: ruby },
  "Cargo.lock": { name: "TOML", load: toml },
  Pipfile: { name: "TOML", load: toml },
};

/** `Dockerfile.dev`, `prod.Dockerfile`: Dockerfiles by a part of the name. */
function dockerfileByName(name: string): boolean {
  return /^(Docker|Container)file\.[^.]+$/.test(name);
}

/** The syntax mode of a file, or undefined for plain text. */
export function languageOf(path: string): { name: string; load: Loader } | undefined {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const known = Object.hasOwn(BY_NAME, name) ? BY_NAME[name] : undefined;
  if (known) return known;
  if (dockerfileByName(name)) return BY_NAME.Dockerfile;
  const ext = extensionOf(name);
  return Object.hasOwn(BY_EXTENSION, ext) ? BY_EXTENSION[ext] : undefined;
}
