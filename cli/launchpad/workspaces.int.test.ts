import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  agentCommand,
  agentRequest,
  followLog,
  messagesOf,
  threadView,
  turnView,
} from "../../services/agents/test-kit.js";
import { docsCommand, NodeDoc } from "../../services/docs/test-kit.js";
import { detectPodman, hostService, UID_BASE, workspacePaths } from "../../services/host/index.js";
import { Supervisor } from "../../services/runtime/supervisor.js";
import { NodeViewer, terminalCommand, typeInto } from "../../services/terminals/test-kit.js";
import {
  defaultThreadSettings,
  newThreadId,
  newTurnId,
  roomIdForPath,
  turnEnded,
} from "../../shared/agents.js";
import { type DocView, docIdForPath, makePatch } from "../../shared/docs.js";
import { MAX_READ_BYTES, UPLOAD_TEMP_PREFIX } from "../../shared/files.js";
import type { ExecResult } from "../../shared/launchpad.js";
import { parseNotebook } from "../../shared/notebook.js";
import {
  Buckets,
  docSubjects,
  hostSubjects,
  Keys,
  Streams,
  workspaceSubjects,
} from "../../shared/subjects.js";
import { newTerminalId } from "../../shared/terminals.js";
import { bigNotebook } from "../../test/helpers/big-notebook.js";
import {
  addScriptedAgent,
  type HostMachine,
  hostUnsupported,
  setupHostMachine,
} from "../../test/helpers/launchpad.js";
import { setup, TEST_WSID, type TestNats, testLog, until } from "../../test/helpers/nats.js";
import { alive, byCommandLine } from "../../test/helpers/procs.js";
import {
  startWorkspaceServices,
  type WorkspaceServices,
  type WorkspaceServicesOptions,
} from "./workspaces.js";

const HOST = "wshost1";
const PTY_HOST = new URL("../../dist/services/terminals/pty-host.js", import.meta.url).pathname;
const FS_WORKER = new URL("../../dist/services/fs/worker.js", import.meta.url).pathname;
const SERVICES_WORKER = new URL(
  "../../dist/test/helpers/workspace-services-worker.js",
  import.meta.url,
).pathname;
const unsupported =
  (await hostUnsupported()) ??
  [PTY_HOST, FS_WORKER, SERVICES_WORKER]
    .filter((f) => !existsSync(f))
    .map((f) => `${f} is missing: run npm run build first`)[0];
if (unsupported) console.warn(`launchpad workspace services tests skipped: ${unsupported}`);

type Reply<T = unknown> = {
  ok: boolean;
  error?: { code: string; message: string };
  result?: T;
};

describe.skipIf(unsupported !== undefined)(
  "container workspace: terminals and files inside",
  () => {
    let t: TestNats;
    let m: HostMachine;
    let supervisor: Supervisor;
    let services: WorkspaceServices;
    const viewers: NodeViewer[] = [];
    const docs: NodeDoc[] = [];
    const ws = "wsinside";
    let agentCommandLine = "";
    let servicesOptions: WorkspaceServicesOptions;

    const host = async (type: string, data: unknown = {}): Promise<Reply<ExecResult>> =>
      (
        await t.nc.request(workspaceSubjects(ws).command("host"), JSON.stringify({ type, data }), {
          timeout: 60_000,
        })
      ).json<Reply<ExecResult>>();
    const sh = async (script: string) => {
      const r = await host("ExecInWorkspace", { argv: ["/bin/sh", "-c", script] });
      if (!r.ok) throw new Error(`exec: ${r.error?.message}`);
      return r.result!;
    };
    const openDoc = async (path: string) => {
      const d = await NodeDoc.open(t.nc, ws, path);
      docs.push(d);
      return d;
    };
    const fs = async <T>(req: Record<string, unknown>): Promise<Reply<T>> =>
      (
        await t.nc.request(workspaceSubjects(ws).request("fs"), JSON.stringify(req), {
          timeout: 20_000,
        })
      ).json<Reply<T>>();

    beforeAll(async () => {
      t = await setup({ streams: true });
      m = await setupHostMachine(HOST);
      supervisor = new Supervisor({ nc: t.nc, wsid: TEST_WSID, log: testLog });
      const podman = await detectPodman();
      await supervisor.start([
        hostService({ hostId: HOST, root: m.root, podman, snapshotEveryMs: 0 }),
      ]);
      const source = await m.rootfs("x");
      agentCommandLine = await addScriptedAgent(source);
      const imported = await t.nc.request(
        hostSubjects(HOST).command,
        JSON.stringify({ type: "ImportImage", data: { name: "bb", source } }),
        { timeout: 120_000 },
      );
      expect(imported.json<Reply>().ok).toBe(true);
      servicesOptions = {
        nc: t.nc,
        hostId: HOST,
        root: m.root,
        dataDir: join(m.dir, "data"),
        podman,
        ptyHostScript: PTY_HOST,
        fsWorkerScript: FS_WORKER,
        log: testLog,
        orphanExitMs: 5000,
        answerUnknown: true,
      };
      services = await startWorkspaceServices(servicesOptions);
      expect((await host("CreateWorkspaceOnHost", { image: "bb" })).ok).toBe(true);
      expect((await host("StartWorkspace")).ok).toBe(true);
      await until("workspace services", async () => services.running().includes(ws));
    });

    afterAll(async () => {
      for (const v of viewers) await v.stop();
      for (const d of docs) await d.stop();
      await services?.stop();
      await supervisor?.stop();
      await m?.cleanup();
      await t?.cleanup();
    });

    it("a terminal runs its shell inside the container, as the workspace user", async () => {
      const tid = newTerminalId();
      const opened = await terminalCommand(t.nc, ws, "OpenTerminal", { tid, cols: 100, rows: 30 });
      expect(opened).toMatchObject({ ok: true });
      const v = new NodeViewer(t.nc, ws, tid);
      viewers.push(v);
      await v.attach();
      // podman exec forwards keystrokes once it has the terminal: wait for the prompt.
      await v.waitFor(/\$ ?$/m);
      typeInto(t.nc, ws, tid, "echo host=$(hostname); echo uid=$(id -u); echo pwd=$(pwd)\r");
      expect((await v.waitFor(/^host=(\S+)$/m))[1]).toBe(`ws-${ws}`);
      expect((await v.waitFor(/^uid=(\d+)$/m))[1]).toBe("1000");
      expect((await v.waitFor(/^pwd=(\S+)$/m))[1]).toBe("/home/user");
      typeInto(t.nc, ws, tid, "cat /etc/image-name\r");
      await v.waitFor(/^x$/m);
    });

    it("keystrokes typed right after opening reach the shell in the container", async () => {
      for (let i = 0; i < 3; i++) {
        const tid = newTerminalId();
        const opened = await terminalCommand(t.nc, ws, "OpenTerminal", { tid, cols: 80, rows: 24 });
        expect(opened).toMatchObject({ ok: true });
        // No wait for a prompt: typed while podman exec is still starting.
        typeInto(t.nc, ws, tid, `echo early-$((${i}*7+1000))\r`);
        const v = new NodeViewer(t.nc, ws, tid);
        viewers.push(v);
        await v.attach();
        expect((await v.waitFor(/^early-(\d+)\r?$/m, 20_000))[1]).toBe(String(i * 7 + 1000));
      }
    });

    it("files use the container's paths: writes appear inside, owned by the workspace user", async () => {
      const info = await fs<{ home: string; sandbox: string | null }>({ op: "info" });
      expect(info.result).toEqual({ home: "/home/user", sandbox: null });

      const w = await fs<{ path: string }>({
        op: "write",
        path: "~/from-fs.txt",
        content: "written by the fs service\n",
        encoding: "utf8",
        exclusive: false,
      });
      expect(w.result?.path).toBe("/home/user/from-fs.txt");
      let r = await sh("cat ~/from-fs.txt; stat -c 'owner=%u' ~/from-fs.txt");
      expect(r.stdout).toContain("written by the fs service");
      expect(r.stdout).toContain("owner=1000");

      const made = await fs<{ path: string }>({ op: "mkdir", path: "/tmp/a/b", parents: true });
      expect(made.result?.path).toBe("/tmp/a/b");
      await fs({
        op: "write",
        path: "/tmp/a/b/abs.txt",
        content: "absolute",
        encoding: "utf8",
        exclusive: true,
      });
      r = await sh("cat /tmp/a/b/abs.txt; echo; stat -c 'owner=%u' /tmp/a /tmp/a/b/abs.txt");
      expect(r.stdout).toContain("absolute");
      expect(r.stdout.match(/owner=1000/g)).toHaveLength(2);
      await sh("echo from-inside > /scratch/in.txt");
      const read = await fs<{ content: string }>({ op: "read", path: "/scratch/in.txt" });
      expect(read.result?.content).toBe("from-inside\n");

      const stat = await fs<{ path: string; display: string }>({ op: "stat", path: "/etc/passwd" });
      expect(stat.result).toMatchObject({ path: "/etc/passwd", display: "/etc/passwd" });
      const home = await fs<{ display: string }>({ op: "stat", path: "/home/user/from-fs.txt" });
      expect(home.result?.display).toBe("~/from-fs.txt");
      const above = await fs({ op: "read", path: "/../../../../etc/shadow" });
      // `..` above the container's root stays at its root: the image has no /etc/shadow.
      expect(above.error?.code).toBe("ERR_FS_NOT_FOUND");
    });

    it("fs errors name the workspace's paths, never the host's", async () => {
      const messages: string[] = [];
      for (const path of ["~/missing.txt", "/scratch/missing/x", "/etc/missing.conf"]) {
        const r = await fs({ op: "read", path });
        expect(r.ok, JSON.stringify(r)).toBe(false);
        messages.push(r.error!.message);
      }
      const r = await fs({ op: "mkdir", path: "/scratch/in.txt/sub" });
      expect(r.ok).toBe(false);
      messages.push(r.error!.message);
      for (const msg of messages)
        for (const h of [m.root, servicesOptions.dataDir]) expect(msg).not.toContain(h);
    });

    it("files have exactly the workspace user's rights: root's files of the rootfs are out of reach", async () => {
      const before = await sh("cat /etc/passwd; ls -ln /etc");
      const refused = [
        await fs({ op: "write", path: "/etc/x", content: "x", encoding: "utf8", exclusive: true }),
        await fs({
          op: "write",
          path: "/etc/passwd",
          content: "root::0:0::/root:/bin/sh\n",
          encoding: "utf8",
          exclusive: false,
        }),
        await fs({ op: "mkdir", path: "/etc/sudoers.d", parents: false }),
        await fs({ op: "delete", paths: ["/etc/image-name"] }),
        await fs({ op: "rename", from: "/etc/image-name", to: "/etc/other" }),
        await fs({ op: "copy", paths: ["~/from-fs.txt"], dir: "/etc" }),
        await fs({ op: "write", path: "/root/x", content: "x", encoding: "utf8", exclusive: true }),
      ];
      for (const r of refused) expect(r.error?.code, JSON.stringify(r)).toBe("ERR_FS_PERMISSION");
      // Nothing changed inside, as root sees it.
      expect((await sh("cat /etc/passwd; ls -ln /etc")).stdout).toBe(before.stdout);

      // What the user may do works, and belongs to the user inside.
      const tmp = await fs<{ path: string }>({
        op: "write",
        path: "/tmp/mine.txt",
        content: "mine",
        encoding: "utf8",
        exclusive: true,
      });
      expect(tmp.ok).toBe(true);
      await fs({ op: "mkdir", path: "~/deep/er", parents: true });
      await fs({ op: "copy", paths: ["~/from-fs.txt"], dir: "~/deep/er" });
      const r = await sh(
        "stat -c '%u:%g %n' /tmp/mine.txt ~/deep ~/deep/er ~/deep/er/from-fs.txt /scratch/in.txt",
      );
      const owners = r.stdout.trim().split("\n");
      expect(owners).toHaveLength(5);
      for (const line of owners) expect(line).toMatch(/^1000:1000 /);
    });

    it("changes made inside reach the live feed with the container's paths, and events name them", async () => {
      const changes: { dir: string; names: string[] | null }[] = [];
      const feed = t.nc.subscribe(workspaceSubjects(ws).feed("fs"), {
        callback: (_e, msg) => {
          changes.push(msg.json());
        },
      });
      const events: { type: string; data: { path?: string } }[] = [];
      const fsEvents = t.nc.subscribe(workspaceSubjects(ws).fsEvents, {
        callback: (_e, msg) => {
          events.push(msg.json());
        },
      });
      try {
        const listed = await fs<{ entries: { name: string }[] }>({
          op: "list",
          path: "~",
          offset: 0,
          limit: 100,
          sort: "name",
          desc: false,
          hidden: false,
          filter: "",
          watch: "feedclient1",
        });
        expect(listed.ok).toBe(true);
        await sh("echo hi > ~/made-inside.txt");
        await until("the change on the feed", async () =>
          changes.some(
            (c) => c.dir === "/home/user" && (c.names ?? []).includes("made-inside.txt"),
          ),
        );
        await fs({ op: "mkdir", path: "~/evented", parents: false });
        await until("the event", async () =>
          events.some((e) => e.type === "FileCreated" && e.data.path === "/home/user/evented"),
        );
      } finally {
        feed.unsubscribe();
        fsEvents.unsubscribe();
      }
    });

    it("a document of the workspace: edits reach the file inside as the workspace user, a change inside reaches the document", async () => {
      await sh("printf 'first line\\n' > ~/doc.txt; chmod 640 ~/doc.txt");
      const d = await openDoc("/home/user/doc.txt");
      await until("the document loaded", async () => d.text === "first line\n");
      await d.edit((text) => `${text}typed in the editor\n`);
      await d.settled();
      const cat = async (path: string) => (await sh(`cat ${path}`)).stdout;
      await until(
        "the edit in the file inside",
        async () => (await cat("~/doc.txt")) === "first line\ntyped in the editor\n",
      );
      // Written by the workspace user, the file's mode kept.
      expect((await sh("stat -c '%u:%g %a' ~/doc.txt")).stdout.trim()).toBe("1000:1000 640");

      // A change made inside the container (a terminal's append) is merged into the document.
      await sh("echo 'appended inside' >> ~/doc.txt");
      await until(
        "the change inside in the document",
        async () => d.text === "first line\ntyped in the editor\nappended inside\n",
      );
      await d.edit((text) => text.replace("first", "1st"));
      await d.settled();
      expect(
        await docsCommand(t.nc, ws, "SaveDocument", { path: "/home/user/doc.txt" }),
      ).toMatchObject({ ok: true });
      expect(await cat("~/doc.txt")).toBe("1st line\ntyped in the editor\nappended inside\n");
      const view = await new Kvm(t.nc).open(Buckets.docs);
      const entry = await view.get(Keys.doc(ws, docIdForPath("/home/user/doc.txt")));
      expect(entry?.json<DocView>()).toMatchObject({ path: "/home/user/doc.txt", disk: "present" });

      // The root file system too, while the workspace runs: a file made by the user in /tmp.
      await sh("echo in-tmp > /tmp/doc-tmp.txt");
      const tmp = await openDoc("/tmp/doc-tmp.txt");
      await until("the /tmp document loaded", async () => tmp.text === "in-tmp\n");
      await tmp.edit((text) => `${text}more\n`);
      await tmp.settled();
      await until(
        "the /tmp edit inside",
        async () => (await cat("/tmp/doc-tmp.txt")) === "in-tmp\nmore\n",
      );
      expect((await sh("stat -c '%u:%g' /tmp/doc-tmp.txt")).stdout.trim()).toBe("1000:1000");

      // Missing files and root's files: coded errors, with the workspace's paths only.
      const missing = await docsCommand(t.nc, ws, "OpenDocument", { path: "/home/user/none.txt" });
      expect(missing).toMatchObject({ ok: false, error: { code: "ERR_FS_NOT_FOUND" } });
      expect(JSON.stringify(missing)).toContain("~/none.txt");
      for (const h of [m.root, m.dir]) expect(JSON.stringify(missing)).not.toContain(h);
    });

    it("a notebook larger than one fs message opens, changes and is saved inside, its mode kept", async () => {
      // Three 600 KiB pictures: 2.4 MiB, more than an fs read or write carries at once.
      const text = bigNotebook({ cells: 3, imageBytes: 600 * 1024 });
      expect(text.length).toBeGreaterThan(4 * MAX_READ_BYTES);
      const file = join(workspacePaths(m.root, ws).home, "big.ipynb");
      await writeFile(file, text, { mode: 0o600 });
      await chown(file, UID_BASE + 1000, UID_BASE + 1000);
      const path = "/home/user/big.ipynb";
      const opened = await docsCommand(t.nc, ws, "OpenNotebook", { path }, 30_000);
      expect(opened).toMatchObject({ ok: true });
      expect(opened.result).not.toHaveProperty("refused");
      const changed = await docsCommand(t.nc, ws, "ChangeNotebook", {
        path,
        change: {
          op: "insert",
          after: null,
          cells: [{ id: "added-inside", cell_type: "code", source: "print('big')" }],
        },
        client: "big-test",
        pid: "big-insert",
      });
      expect(changed).toMatchObject({ ok: true });
      expect(await docsCommand(t.nc, ws, "SaveNotebook", { path }, 30_000)).toMatchObject({
        ok: true,
      });
      const saved = parseNotebook(await readFile(file, "utf8"));
      const before = parseNotebook(text);
      expect(saved.cells.map((c) => c.id)).toEqual([
        "added-inside",
        ...before.cells.map((c) => c.id),
      ]);
      expect(saved.cells.slice(1)).toEqual(before.cells);
      expect((await sh("stat -c '%u:%g %a' ~/big.ipynb")).stdout.trim()).toBe("1000:1000 600");
      // Saved beside itself and renamed over it: no temp file stays.
      expect((await sh("ls -a ~")).stdout).not.toContain(UPLOAD_TEMP_PREFIX);
    });

    it("a document through a symlink to a host path or into another workspace is refused, and names no host path", async () => {
      const neighbour = "wsneighbour";
      const cmd = async (type: string) =>
        (
          await t.nc.request(
            workspaceSubjects(neighbour).command("host"),
            JSON.stringify({ type, data: type === "CreateWorkspaceOnHost" ? { image: "bb" } : {} }),
            { timeout: 60_000 },
          )
        ).json<Reply>();
      expect(await cmd("CreateWorkspaceOnHost")).toMatchObject({ ok: true });
      try {
        // Every workspace user is the same uid on the host: only the sandbox keeps them apart.
        const theirs = join(workspacePaths(m.root, neighbour).home, "secret.txt");
        await writeFile(theirs, "the neighbour's secret\n");
        await chown(theirs, UID_BASE + 1000, UID_BASE + 1000);
        const hostFile = join(m.dir, "host-secret.txt");
        await writeFile(hostFile, "the host's secret\n", { mode: 0o644 });
        await sh(
          `ln -sf ${theirs} ~/neighbour-link; ln -sf ${hostFile} ~/host-link; ln -sf /etc/shadow ~/shadow-link; ln -sfn ${m.dir} ~/host-dir`,
        );
        const docsBefore = (await t.jsm.streams.info(Streams.WS_DOCS)).state.last_seq;
        const refusals: Reply[] = [];
        for (const path of [
          "/home/user/neighbour-link",
          "/home/user/host-link",
          "/home/user/shadow-link",
          "/home/user/host-dir/host-secret.txt",
        ]) {
          for (const type of ["OpenDocument", "SaveDocument"]) {
            const r = await docsCommand(t.nc, ws, type, { path });
            expect(r, `${type} ${path}`).toMatchObject({
              ok: false,
              error: { code: "ERR_FS_OUTSIDE_SANDBOX" },
            });
            refusals.push(r);
          }
        }

        // A file of an open document swapped for a symlink: neither read nor written through it.
        await sh("echo mine > ~/swapped.txt");
        const d = await openDoc("/home/user/swapped.txt");
        await until("the document loaded", async () => d.text === "mine\n");
        await sh(`rm ~/swapped.txt; ln -s ${hostFile} ~/swapped.txt`);
        const patched = await docsCommand(t.nc, ws, "PatchDocument", {
          path: "/home/user/swapped.txt",
          base: d.seq,
          patch: makePatch(d.text, [{ from: 0, to: 0, insert: "overwritten " }]),
          client: "attacker01",
          pid: "attack-1",
        });
        expect(patched).toMatchObject({ ok: false, error: { code: "ERR_FS_OUTSIDE_SANDBOX" } });
        const saved = await docsCommand(t.nc, ws, "SaveDocument", {
          path: "/home/user/swapped.txt",
        });
        expect(saved).toMatchObject({ ok: false, error: { code: "ERR_FS_OUTSIDE_SANDBOX" } });
        refusals.push(patched, saved);

        expect(await readFile(hostFile, "utf8")).toBe("the host's secret\n");
        expect(await readFile(theirs, "utf8")).toBe("the neighbour's secret\n");
        const text = JSON.stringify(refusals);
        for (const h of [m.root, m.dir, servicesOptions.dataDir]) expect(text).not.toContain(h);
        expect(text).not.toMatch(/the (host|neighbour)'s secret/);
        expect(text).toContain("a symbolic link leads out of it");
        // Nothing but the one document opened before the swap reached the stream.
        const stored = await t.jsm.streams.getMessage(Streams.WS_DOCS, { seq: docsBefore + 1 });
        expect(stored?.subject).toBe(
          docSubjects(ws, docIdForPath("/home/user/swapped.txt")).patches,
        );
        expect((await t.jsm.streams.info(Streams.WS_DOCS)).state.last_seq).toBe(docsBefore + 1);
      } finally {
        await sh("rm -f ~/neighbour-link ~/host-link ~/shadow-link ~/host-dir ~/swapped.txt");
        expect(await cmd("DeleteWorkspace")).toMatchObject({ ok: true });
      }
    });

    it("a document hears a change made inside while the workspace's fs service was restarting", async () => {
      await until("only this workspace's services", async () =>
        services.running().every((w) => w === ws),
      );
      const d = await openDoc("/home/user/doc.txt");
      await until("the document loaded", async () => d.text.includes("appended inside"));
      const [worker, ...others] = byCommandLine([process.execPath, FS_WORKER]);
      expect(worker, "the fs worker").toBeDefined();
      expect(others).toEqual([]);
      process.kill(worker!.pid, "SIGKILL");
      // The fs worker had the watch; the one the restarted fs service starts has none.
      await sh("echo 'while the fs service restarted' >> ~/doc.txt");
      await until(
        "the change in the document",
        async () => d.text.endsWith("appended inside\nwhile the fs service restarted\n"),
        60_000,
      );
      await d.edit((text) => `${text}and after\n`);
      await d.settled();
      await until("the file inside has both", async () =>
        (await sh("cat ~/doc.txt")).stdout.endsWith("restarted\nand after\n"),
      );
    });

    it("an agent runs inside the container as the workspace user: its files, its commands", async () => {
      const room = roomIdForPath("/home/user/agents.chat");
      const thread = newThreadId();
      const created = await agentCommand(t.nc, ws, "CreateThread", {
        room,
        thread,
        title: "inside",
        settings: {
          ...defaultThreadSettings("/home/user"),
          agent: "custom",
          command: agentCommandLine,
          mode: "workspace-write",
        },
      });
      expect(created).toMatchObject({ ok: true });
      const turn = newTurnId();
      const prompt = [
        "write /home/user/by-agent.txt written by the agent",
        "read /home/user/by-agent.txt",
        "write /etc/by-agent.txt outside the working directory",
        "run id -u; hostname; pwd",
        "selfwrite /home/user/self.txt",
      ].join("\n");
      expect(
        await agentCommand(t.nc, ws, "SubmitTurn", { room, thread, turn, prompt }),
      ).toMatchObject({ ok: true });
      const view = await until(
        "the turn ended",
        async () => {
          const v = await turnView(t.nc, ws, thread, turn);
          return v && turnEnded(v.status) ? v : undefined;
        },
        90_000,
      );
      const log = await followLog(t.nc, ws, thread, turn);
      const text = messagesOf(log);
      expect(view.status, `${JSON.stringify(view.failure)} ${text}`).toBe("finished");
      expect(text).toContain("wrote /home/user/by-agent.txt");
      expect(text).toMatch(/read \d+ characters: written by the agent/);
      expect(text).toMatch(/write refused: .*outside the working directory/);
      // The command ran inside the container, as the workspace user, in the working directory.
      expect(text).toContain(`exit 0 output "1000\\nws-${ws}\\n/home/user\\n"`);
      expect(text).toContain("selfwrite ok /home/user/self.txt");
      const started = log.find((e) => e.event.type === "CommandStarted");
      expect(started?.event.data).toMatchObject({ sandbox: "container", cwd: "/home/user" });
      const written = log.find((e) => e.event.type === "FileWritten");
      expect(written?.event.data).toMatchObject({ path: "/home/user/by-agent.txt", before: null });

      const r = await sh("stat -c '%u:%g %n' ~/by-agent.txt ~/self.txt; cat ~/by-agent.txt");
      expect(r.stdout).toContain("1000:1000 /home/user/by-agent.txt");
      expect(r.stdout).toContain("1000:1000 /home/user/self.txt");
      expect(r.stdout).toContain("written by the agent");
      expect((await sh("ls /etc")).stdout).not.toContain("by-agent.txt");
    });

    it("an agent's own sign-in runs inside the container: its address shows, the callback is opened in the container's network, the login stays in the workspace's home", async () => {
      const room = roomIdForPath("/home/user/sign-in.chat");
      const thread = newThreadId();
      const settings = {
        ...defaultThreadSettings("/home/user"),
        agent: "custom" as const,
        command: `${agentCommandLine} --sign-in`,
      };
      expect(
        await agentCommand(t.nc, ws, "CreateThread", { room, thread, title: "login", settings }),
      ).toMatchObject({ ok: true });
      // A first turn tells the thread how the agent signs in.
      const turn = newTurnId();
      await agentCommand(t.nc, ws, "SubmitTurn", { room, thread, turn, prompt: "say hi" });
      await until(
        "the turn ended",
        async () => turnEnded((await turnView(t.nc, ws, thread, turn))?.status ?? "running"),
        90_000,
      );
      expect((await threadView(t.nc, ws, room, thread))?.auth?.methods).toMatchObject([
        { id: "browser", kind: "agent" },
      ]);
      expect(
        await agentRequest(t.nc, ws, { op: "signIn", room, thread, method: "browser" }),
      ).toMatchObject({ ok: true });
      const shown = await until(
        "the sign-in address shows",
        async () => {
          const s = (await threadView(t.nc, ws, room, thread))?.signIn;
          return s?.status === "waiting" || s?.status === "failed" ? s : undefined;
        },
        60_000,
      );
      expect(shown, JSON.stringify(shown)).toMatchObject({ status: "waiting" });
      expect(shown.url).toMatch(/^https:\/\/auth\.example\.test\/authorize\?/);
      const redirect = new URL(new URL(shown.url!).searchParams.get("redirect_uri")!);
      // The agent listens on the container's loopback, which this machine's is not.
      const direct = await fetch(`http://127.0.0.1:${redirect.port}/auth/callback?code=x`).then(
        (r) => r.status,
        () => "unreachable",
      );
      expect(direct).not.toBe(200);
      // Only the callback itself is opened.
      expect(
        await agentRequest(t.nc, ws, {
          op: "signInCallback",
          room,
          thread,
          url: `http://localhost:${redirect.port}/elsewhere?code=x`,
        }),
      ).toMatchObject({ ok: false, error: { code: "ERR_AGENT_SIGN_IN" } });
      const relayed = await agentRequest<{ status: number; text: string }>(t.nc, ws, {
        op: "signInCallback",
        room,
        thread,
        url: `http://localhost:${redirect.port}${redirect.pathname}?code=c0de`,
      });
      expect(relayed).toMatchObject({ ok: true, result: { relayed: true, status: 200 } });
      expect(relayed.ok && relayed.result.text).toContain("Signed in to the scripted agent");
      await until(
        "the sign-in ended",
        async () => (await threadView(t.nc, ws, room, thread))?.signIn?.status === "signed-in",
        30_000,
      );
      // The agent kept its login in the workspace's home, as the workspace user; the sign-in's
      // folder is gone.
      const r = await sh("stat -c '%u' ~/.scripted-agent-login; cat ~/.scripted-agent-login");
      expect(r.stdout).toBe("1000\ncode c0de\n");
      await until(
        "the sign-in's folder is removed",
        async () => !(await sh("ls -a ~/.cache")).stdout.includes("cocalc-sign-in-"),
        30_000,
      );
    });

    it("kill -9 of the process that runs a workspace's services ends its agent inside the container, what the agent started and its commands", async () => {
      // The services of the workspace in a process of their own, which is then killed.
      await services.stop();
      const worker = spawn(process.execPath, [SERVICES_WORKER], {
        env: {
          ...process.env,
          NATS_URL: t.url,
          HOST_ID: HOST,
          HOST_ROOT: m.root,
          DATA_DIR: join(m.dir, "data"),
          PTY_HOST,
          FS_WORKER,
          WAIT_FOR: ws,
        },
        stdio: ["pipe", "pipe", "inherit"],
      });
      try {
        worker.stdin!.end(t.seed);
        await new Promise<void>((resolve, reject) => {
          worker.stdout!.on("data", (d) => String(d).includes("running") && resolve());
          worker.once("exit", (code) => reject(new Error(`the worker exited with ${code}`)));
        });
        await until("the agents and fs services answer", async () => {
          try {
            return (
              (await agentRequest(t.nc, ws, { op: "keys" })).ok && (await fs({ op: "info" })).ok
            );
          } catch {
            return false;
          }
        });
        const room = roomIdForPath("/home/user/agents.chat");
        const thread = newThreadId();
        expect(
          await agentCommand(t.nc, ws, "CreateThread", {
            room,
            thread,
            title: "busy",
            settings: {
              ...defaultThreadSettings("/home/user"),
              agent: "custom",
              command: agentCommandLine,
              mode: "full-access",
            },
          }),
        ).toMatchObject({ ok: true });
        const a = String(3000 + Math.floor(Math.random() * 6000));
        const b = String(Number(a) + 1);
        const turn = newTurnId();
        const prompt = `spawn sleep ${a}; echo agent-child-done\nrun sleep ${b}\nslow 1000 100`;
        expect(
          await agentCommand(t.nc, ws, "SubmitTurn", { room, thread, turn, prompt }),
        ).toMatchObject({ ok: true });
        // Processes inside the container, as the host sees them.
        const inside = await until(
          "the agent, its own process and its command inside the container",
          async () => {
            const found = [
              byCommandLine(agentCommandLine.split(" ")),
              byCommandLine(["sleep", a]),
              byCommandLine(["sleep", b]),
            ];
            return found.every((f) => f.length === 1) ? found.map((f) => f[0]!) : undefined;
          },
          60_000,
        );
        worker.kill("SIGKILL");
        await until(
          "every process of the agent gone",
          async () => inside.every((p) => !alive(p)),
          20_000,
        );

        // The next services mark the cut turn failed.
        services = await startWorkspaceServices(servicesOptions);
        await until("workspace services", async () => services.running().includes(ws));
        const cut = await until(
          "the cut turn ended",
          async () => {
            const v = await turnView(t.nc, ws, thread, turn);
            return v && turnEnded(v.status) ? v : undefined;
          },
          30_000,
        );
        expect(cut.failure?.code).toBe("ERR_AGENT_RESTARTED");
      } finally {
        if (worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
      }
    });

    it("a stopped workspace: home still reachable, the root file system says to start it", async () => {
      expect((await host("StopWorkspace")).ok).toBe(true);
      const etc = await fs({ op: "read", path: "/etc/passwd" });
      expect(etc.error?.code).toBe("ERR_WORKSPACE_STATE");
      expect(etc.error?.message).toMatch(/start the workspace/);
      const home = await fs<{ content: string }>({ op: "read", path: "~/from-fs.txt" });
      expect(home.result?.content).toBe("written by the fs service\n");
      // An agent's turn fails at once and says why.
      const room = roomIdForPath("/home/user/agents.chat");
      const thread = newThreadId();
      await agentCommand(t.nc, ws, "CreateThread", {
        room,
        thread,
        title: "stopped",
        settings: {
          ...defaultThreadSettings("/home/user"),
          agent: "custom",
          command: agentCommandLine,
        },
      });
      const turn = newTurnId();
      await agentCommand(t.nc, ws, "SubmitTurn", { room, thread, turn, prompt: "say hi" });
      const failed = await until("the turn failed", async () => {
        const v = await turnView(t.nc, ws, thread, turn);
        return v && turnEnded(v.status) ? v : undefined;
      });
      expect(failed.failure).toMatchObject({ code: "ERR_WORKSPACE_STATE" });
      expect(failed.failure?.reason).toMatch(/start the workspace/);
      expect((await host("StartWorkspace")).ok).toBe(true);
      expect((await fs({ op: "read", path: "/etc/passwd" })).ok).toBe(true);
    });

    it("opened while the workspace starts: a terminal, the explorer and an agent turn wait, then work", async () => {
      const w = "wsstarting";
      const cmd = async (type: string, data: unknown = {}) =>
        (
          await t.nc.request(workspaceSubjects(w).command("host"), JSON.stringify({ type, data }), {
            timeout: 60_000,
          })
        ).json<Reply>();
      const fsOf = async (req: object) =>
        (
          await t.nc.request(workspaceSubjects(w).request("fs"), JSON.stringify(req), {
            timeout: 60_000,
          })
        ).json<Reply<unknown>>();
      expect(await cmd("CreateWorkspaceOnHost", { image: "bb" })).toMatchObject({ ok: true });
      await until("its services", async () => services.running().includes(w));
      const room = roomIdForPath("/home/user/agents.chat");
      const thread = newThreadId();
      expect(
        await agentCommand(t.nc, w, "CreateThread", {
          room,
          thread,
          title: "while starting",
          settings: {
            ...defaultThreadSettings("/home/user"),
            agent: "custom",
            command: agentCommandLine,
          },
        }),
      ).toMatchObject({ ok: true });

      // Stopped: refused, and says what to do.
      const refused = await terminalCommand(t.nc, w, "OpenTerminal", {
        tid: newTerminalId(),
        cols: 80,
        rows: 24,
      });
      expect(refused).toMatchObject({ ok: false, error: { code: "ERR_WORKSPACE_STATE" } });
      expect(JSON.stringify(refused)).toMatch(/start the workspace/);

      // Everything is opened the moment the start begins.
      const sub = t.nc.subscribe(workspaceSubjects(w).hostLife);
      const starting = (async () => {
        for await (const m of sub) {
          if (m.json<{ type: string }>().type === "WorkspaceStarting") {
            sub.unsubscribe();
            return true;
          }
        }
        return false;
      })();
      const started = cmd("StartWorkspace");
      expect(await starting).toBe(true);
      const tid = newTerminalId();
      const turn = newTurnId();
      const [opened, read, submitted] = await Promise.all([
        terminalCommand(t.nc, w, "OpenTerminal", { tid, cols: 80, rows: 24 }),
        fsOf({ op: "read", path: "/etc/image-name" }),
        agentCommand(t.nc, w, "SubmitTurn", {
          room,
          thread,
          turn,
          prompt: "run echo agent-$((6*7))",
        }),
      ]);
      expect(opened).toMatchObject({ ok: true });
      expect(read).toMatchObject({ ok: true, result: { content: "x\n" } });
      expect(submitted).toMatchObject({ ok: true });
      expect((await started).ok).toBe(true);
      const v = new NodeViewer(t.nc, w, tid);
      viewers.push(v);
      await v.attach();
      typeInto(t.nc, w, tid, "echo up-$((6*7))\r");
      await v.waitFor(/^up-42/m);
      const ended = await until(
        "the turn ended",
        async () => {
          const x = await turnView(t.nc, w, thread, turn);
          return x && turnEnded(x.status) ? x : undefined;
        },
        90_000,
      );
      expect(ended.status, JSON.stringify(ended.failure)).toBe("finished");
      expect(messagesOf(await followLog(t.nc, w, thread, turn))).toContain("agent-42");
      expect(await cmd("StopWorkspace")).toMatchObject({ ok: true });
    });

    it("requests sent right after the create's answer wait for the workspace's services, then get their answers", async () => {
      const w = "wsquick";
      const cmd = async (type: string, data: unknown = {}) =>
        (
          await t.nc.request(workspaceSubjects(w).command("host"), JSON.stringify({ type, data }), {
            timeout: 60_000,
          })
        ).json<Reply>();
      expect(await cmd("CreateWorkspaceOnHost", { image: "bb" })).toMatchObject({ ok: true });
      // At once, without waiting for anything: the services are not up yet.
      const [read, opened, doc] = await Promise.all([
        t.nc
          .request(
            workspaceSubjects(w).request("fs"),
            JSON.stringify({ op: "read", path: "~/x" }),
            {
              timeout: 20_000,
            },
          )
          .then((m) => m.json<Reply>()),
        terminalCommand(t.nc, w, "OpenTerminal", { tid: newTerminalId(), cols: 80, rows: 24 }),
        docsCommand(t.nc, w, "OpenDocument", { path: "/home/user/x" }, 20_000),
      ]);
      // The services' own answers (the fs and docs services' "no such file", the terminals
      // service's "start the workspace"), each once: the request waited for them.
      expect(read).toMatchObject({ ok: false, error: { code: "ERR_FS_NOT_FOUND" } });
      expect(doc).toMatchObject({ ok: false, error: { code: "ERR_FS_NOT_FOUND" } });
      expect(opened).toMatchObject({ ok: false, error: { code: "ERR_WORKSPACE_STATE" } });
      expect(JSON.stringify(opened)).toMatch(/start the workspace/);
      expect(await cmd("DeleteWorkspace")).toMatchObject({ ok: true });
    });

    it("a workspace that does not exist: a coded error, not 'no responders'", async () => {
      const w = "wsnever";
      const opened = await terminalCommand(t.nc, w, "OpenTerminal", {
        tid: newTerminalId(),
        cols: 80,
        rows: 24,
      });
      expect(opened).toMatchObject({ ok: false, error: { code: "ERR_WORKSPACE_NOT_FOUND" } });
      const read = await t.nc.request(
        workspaceSubjects(w).request("fs"),
        JSON.stringify({ op: "read", path: "~/x" }),
        { timeout: 20_000 },
      );
      expect(read.json<Reply>()).toMatchObject({
        ok: false,
        error: { code: "ERR_WORKSPACE_NOT_FOUND" },
      });
      const doc = await docsCommand(t.nc, w, "OpenDocument", { path: "/home/user/x" }, 20_000);
      expect(doc).toMatchObject({ ok: false, error: { code: "ERR_WORKSPACE_NOT_FOUND" } });
    });
  },
);
