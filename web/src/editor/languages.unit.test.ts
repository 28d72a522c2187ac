import { describe, expect, it } from "vitest";
import { languageOf } from "./languages.js";

describe("editor languages", () => {
  it("picks the syntax mode by file name", () => {
    const cases: Record<string, string | undefined> = {
      "/a/x.py": "Python",
      "/a/x.js": "JavaScript",
      "/a/x.tsx": "TypeScript (TSX)",
      "/a/x.json": "JSON",
      "/a/README.md": "Markdown",
      "/a/index.html": "HTML",
      "/a/x.css": "CSS",
      "/a/run.sh": "Shell",
      "/a/.bashrc": "Shell",
      "/a/ci.yml": "YAML",
      "/a/paper.tex": "LaTeX",
      "/a/x.jl": "Julia",
      "/a/x.R": "R",
      "/a/x.c": "C",
      "/a/x.cpp": "C++",
      "/a/x.rs": "Rust",
      "/a/x.go": "Go",
      "/a/Main.java": "Java",
      "/a/schema.sql": "SQL",
      "/a/pom.xml": "XML",
      "/a/logo.svg": "XML",
      "/a/index.php": "PHP",
      "/a/init.lua": "Lua",
      "/a/app.rb": "Ruby",
      "/a/Gemfile": "Ruby",
      "/a/Rakefile": "Ruby",
      "/a/script.pl": "Perl",
      "/a/Module.pm": "Perl",
      "/a/pyproject.toml": "TOML",
      "/a/Cargo.lock": "TOML",
      "/a/Dockerfile": "Dockerfile",
      "/a/Containerfile": "Dockerfile",
      "/a/Dockerfile.dev": "Dockerfile",
      "/a/base.dockerfile": "Dockerfile",
      "/a/Makefile": "Makefile",
      "/a/makefile": "Makefile",
      "/a/GNUmakefile": "Makefile",
      "/a/rules.mk": "Makefile",
      "/a/env.zsh": "Shell",
      "/a/refs.bib": "LaTeX",
      "/a/notes.txt": undefined,
      "/a/Dockerfile.a.b": undefined,
      "/a/Makefiles": undefined,
      "/a/.hidden": undefined,
    };
    // A name that is an Object prototype member is plain text, not that member.
    cases["/x.constructor"] = undefined;
    cases["/a/toString"] = undefined;
    for (const [path, name] of Object.entries(cases))
      expect(languageOf(path)?.name, path).toBe(name);
  });

  it("loads every mode (legacy stream modes included)", async () => {
    const paths = ["/x.py", "/x.sh", "/x.tex", "/x.jl", "/x.r", "/x.go", "/x.yaml", "/x.java"];
    paths.push("/x.sql", "/x.xml", "/x.php", "/x.lua", "/x.rb", "/x.pl", "/x.toml");
    paths.push("/a/Dockerfile", "/a/Makefile");
    for (const path of paths) {
      const ext = await languageOf(path)!.load();
      expect(ext, path).toBeTruthy();
    }
  });

  it("highlights a Makefile: comments, directives, targets, assignments, references, recipes", async () => {
    const { makefile } = await import("./makefile-mode.js");
    const { StringStream } = await import("@codemirror/language");
    const tokens = (text: string) => {
      const state = makefile.startState!(2);
      const out: [string, string][] = [];
      for (const line of text.split("\n")) {
        const stream = new StringStream(line, 2, 2);
        while (!stream.eol()) {
          const style = makefile.token(stream, state);
          const word = stream.current().trim();
          if (style && word) out.push([word, style]);
          stream.start = stream.pos;
        }
      }
      return out;
    };
    const got = tokens(
      '# build\nCC := gcc\ninclude rules.mk\nall: main.o\n\t@$(CC) -o "a b" $@ # link\nifeq ($(X),1)\nendif',
    );
    expect(got).toEqual([
      ["# build", "comment"],
      ["CC", "def"],
      [":=", "operator"],
      ["include", "keyword"],
      ["all", "labelName"],
      [":", "operator"],
      ["@", "operator"],
      ["$(CC", "variableName.special"],
      [")", "variableName.special"],
      ['"a b"', "string"],
      ["$@", "variableName.special"],
      ["# link", "comment"],
      ["ifeq", "keyword"],
      ["$(X", "variableName.special"],
      [")", "variableName.special"],
      ["endif", "keyword"],
    ]);
  });
});
