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
      "/a/notes.txt": undefined,
      "/a/Makefile": undefined,
      "/a/.hidden": undefined,
    };
    // A name that is an Object prototype member is plain text, not that member.
    cases["/x.constructor"] = undefined;
    cases["/a/toString"] = undefined;
    for (const [path, name] of Object.entries(cases))
      expect(languageOf(path)?.name, path).toBe(name);
  });

  it("loads every mode (legacy stream modes included)", async () => {
    for (const path of ["/x.py", "/x.sh", "/x.tex", "/x.jl", "/x.r", "/x.go", "/x.yaml"]) {
      const ext = await languageOf(path)!.load();
      expect(ext, path).toBeTruthy();
    }
  });
});
