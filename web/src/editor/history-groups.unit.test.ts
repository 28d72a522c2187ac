import { describe, expect, it } from "vitest";
import { type GroupableVersion, groupVersions } from "./history-groups.js";

const at = (minute: number, second = 0) =>
  new Date(Date.UTC(2026, 0, 1, 10, minute, second)).toISOString();

/** Versions oldest first, given newest first to the grouping as history lists them. */
function history(...versions: Omit<GroupableVersion, "seq">[]): GroupableVersion[] {
  return versions.map((v, i) => ({ seq: i + 1, ...v })).reverse();
}

const seqsOf = (versions: GroupableVersion[]) =>
  groupVersions(versions).map((g) => g.versions.map((v) => v.seq));

describe("history groups", () => {
  it("joins one author's typing without a 5-minute pause, newest first", () => {
    const edit = (minute: number, second = 0, author = "user") => ({
      at: at(minute, second),
      source: "user",
      author,
    });
    const v = history(
      { at: at(0), source: "opened", author: "user" },
      edit(1),
      edit(1, 2),
      edit(1, 5),
      edit(5, 5), // 4 minutes later: the same sitting
      edit(10, 6), // more than 5 minutes: a new one
      edit(10, 7, "acct-bob"), // another author
      { at: at(10, 8), source: "disk", author: "disk" },
      { at: at(10, 9), source: "disk", author: "disk" },
      edit(10, 10),
    );
    expect(seqsOf(v)).toEqual([[10], [9, 8], [7], [6], [5, 4, 3, 2], [1]]);
    const groups = groupVersions(v);
    expect(groups[4]).toMatchObject({ key: 2, author: "user", source: "user" });
  });

  it("a named version ends its group; reverts, openings and history's start stand alone", () => {
    const edit = (second: number, name?: string) => ({
      at: at(0, second),
      source: "user",
      author: "user",
      ...(name && { name }),
    });
    const v = history(
      { at: at(0), source: "history start", author: "user" },
      edit(1),
      edit(2, "first draft"),
      edit(3),
      edit(4),
      { at: at(0, 5), source: "revert", author: "user" },
      edit(6),
    );
    expect(seqsOf(v)).toEqual([[7], [6], [5, 4], [3, 2], [1]]);
    expect(groupVersions(v)[3]!.versions[0]!.name).toBe("first draft");
  });

  it("nothing to group is no group", () => {
    expect(groupVersions([])).toEqual([]);
  });
});
