/**
 * An agent's own interactive sign-in (Codex's "Login with ChatGPT"): a process of the thread's
 * agent is asked to `authenticate` with the method; the address it wants a browser to open is
 * caught (BROWSER is a script that writes it into a folder of ours: services/agents/place.ts)
 * and shown in the thread's view, so the page offers it as a link wherever the agent runs.
 * When the agent runs on another machine or in a container workspace, the browser's last step
 * (a localhost callback the agent listens for) does not load: the page takes the address it
 * ended on and it is opened where the agent listens, and only that address.
 */
import type { KV } from "@nats-io/kv";
import { type AgentSignIn, type ThreadView, threadIdentifiers } from "../../shared/agents.js";
import { CocalcError } from "../../shared/errors.js";
import { writeLive } from "../runtime/live.js";
import type { ServiceContext } from "../runtime/service.js";
import { acpSdk } from "./acp-sdk.js";
import type { AgentProcess } from "./agent-process.js";
import type { AgentPlace, SignInBrowser } from "./place.js";
import type { AgentPool } from "./pool.js";
import type { ServiceThreads } from "./threads.js";

/** How long a sign-in waits for the user. */
const SIGN_IN_MS = 15 * 60_000;
const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

export interface SignInDeps {
  ctx: ServiceContext;
  pool: AgentPool;
  place: AgentPlace;
  threads: ServiceThreads;
  threadViews: KV;
}

interface Running {
  proc: AgentProcess;
  browser: SignInBrowser;
  /** The callback address the agent listens on (from the sign-in address's redirect_uri). */
  callback?: URL;
  cancelled?: boolean;
}

/** The localhost callback a sign-in address names (OAuth's redirect_uri), if it names one. */
export function callbackOf(signInUrl: string): URL | undefined {
  try {
    const redirect = new URL(signInUrl).searchParams.get("redirect_uri");
    if (!redirect) return undefined;
    const u = new URL(redirect);
    return u.protocol === "http:" && LOCAL_HOSTS.has(u.hostname) ? u : undefined;
  } catch {
    return undefined;
  }
}

export class SignIns {
  private readonly running = new Map<string, Running>();

  constructor(private readonly d: SignInDeps) {}

  /** Starts the sign-in; its progress shows in the thread's view. */
  async start(room: string, thread: string, methodId: string): Promise<void> {
    const state = await this.d.threads.state(room, thread);
    if (state.status !== "active") {
      throw new CocalcError("ERR_AGENT_THREAD_NOT_FOUND", `thread ${thread} does not exist`);
    }
    const key = threadIdentifiers(this.d.ctx.wsid, room, thread).key;
    const view = (await this.d.threadViews.get(key))?.json<ThreadView>();
    const method = view?.auth?.methods.find((m) => m.id === methodId);
    if (method?.kind !== "agent") {
      throw new CocalcError(
        "ERR_AGENT_SIGN_IN",
        `the agent offers no interactive sign-in ${JSON.stringify(methodId)}`,
      );
    }
    await this.stop(thread);
    const browser = await this.d.place.signInBrowser();
    const show = (s: Omit<AgentSignIn, "method" | "at">) =>
      writeLive<ThreadView>(this.d.threadViews, key, (v) => ({
        ...v,
        signIn: { method: methodId, ...s, at: this.d.ctx.now().toISOString() },
      })).catch((err) => this.d.ctx.log.warn({ thread, err }, "sign-in not shown"));
    await show({ status: "starting" });
    let proc: AgentProcess;
    try {
      proc = await this.d.pool.signInProcess(state.settings, browser.env, browser.argv);
    } catch (err) {
      await browser.close();
      await show({ status: "failed", reason: err instanceof Error ? err.message : String(err) });
      throw err;
    }
    const r: Running = { proc, browser };
    this.running.set(thread, r);
    void this.follow(r, thread, methodId, show).finally(async () => {
      if (this.running.get(thread) === r) this.running.delete(thread);
      await proc.stop();
      await browser.close();
    });
  }

  /** Runs `authenticate` to its end, showing the address as soon as the agent gives it. */
  private async follow(
    r: Running,
    thread: string,
    methodId: string,
    show: (s: Omit<AgentSignIn, "method" | "at">) => Promise<unknown>,
  ): Promise<void> {
    const { proc } = r;
    let done = false;
    const watch = (async () => {
      while (!done) {
        const text = await r.browser.opened();
        const url = text.split("\n").find((l) => /^https?:\/\//.test(l));
        if (url) {
          r.callback = callbackOf(url);
          await show({ status: "waiting", url });
          return;
        }
        await new Promise((res) => setTimeout(res, 200));
      }
    })();
    try {
      await proc.within(
        proc.connection.agent.request(acpSdk().methods.agent.authenticate, { methodId }),
        SIGN_IN_MS,
        "authenticate",
        "ERR_AGENT_SIGN_IN",
      );
      done = true;
      await watch;
      await this.d.pool.forget(thread);
      await show({ status: "signed-in" });
    } catch (err) {
      done = true;
      await watch;
      const reason = r.cancelled
        ? "the sign-in was cancelled"
        : err instanceof Error
          ? err.message
          : String(err);
      await show({ status: "failed", reason });
    }
  }

  /**
   * Opens the callback address the user's browser ended on, here where the agent listens.
   * Only the exact callback of the running sign-in is opened (no other host, port or path).
   */
  async callback(thread: string, pasted: string): Promise<{ status: number; text: string }> {
    const r = this.running.get(thread);
    if (!r?.callback) {
      throw new CocalcError("ERR_AGENT_SIGN_IN", "no sign-in of this thread waits for a callback");
    }
    let u: URL;
    try {
      u = new URL(pasted.trim());
    } catch {
      throw new CocalcError(
        "ERR_AGENT_SIGN_IN",
        "that is not an address (copy it from the browser's address bar)",
      );
    }
    const want = r.callback;
    if (
      u.protocol !== want.protocol ||
      !LOCAL_HOSTS.has(u.hostname) ||
      u.port !== want.port ||
      u.pathname !== want.pathname
    ) {
      throw new CocalcError(
        "ERR_AGENT_SIGN_IN",
        `that is not the sign-in's callback (it should start with ${want.origin}${want.pathname})`,
      );
    }
    const target = new URL(`${want.protocol}//${want.host}${u.pathname}${u.search}`);
    try {
      const res = await r.browser.get(target);
      return {
        status: res.status,
        text: res.text
          .replace(/<[^>]*>/g, " ")
          .trim()
          .slice(0, 500),
      };
    } catch (err) {
      if (err instanceof CocalcError) throw err;
      throw new CocalcError(
        "ERR_AGENT_SIGN_IN",
        `the agent's callback did not answer: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /** Ends the thread's running sign-in (its view then says it was cancelled). */
  async cancel(thread: string): Promise<boolean> {
    const r = this.running.get(thread);
    if (!r) return false;
    r.cancelled = true;
    await this.stop(thread);
    return true;
  }

  private async stop(thread: string): Promise<void> {
    const r = this.running.get(thread);
    this.running.delete(thread);
    await r?.proc.stop();
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.keys()].map((t) => this.stop(t)));
  }
}
