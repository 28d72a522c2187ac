/**
 * The client side of a kernel's ZeroMQ channels: shell and control (DEALER), stdin (DEALER,
 * with the shell's identity, as the kernel sends input requests to the identity that sent the
 * execution), iopub (SUB, everything). The identity is the kernel's own, so a restarted
 * service that connects again receives the replies and input requests of earlier requests.
 */
import { Dealer, Request, Subscriber } from "zeromq";
import { CocalcError } from "../../shared/errors.js";
import type { Logger } from "../runtime/logger.js";
import type { ConnectionInfo } from "./launcher.js";
import { type JupyterMessage, type MessageHeader, Wire } from "./wire.js";

export type Channel = "shell" | "control" | "stdin" | "iopub";

export interface ChannelHandlers {
  /** Every iopub message, in order; the next is read once a returned promise settles. */
  iopub(m: JupyterMessage): void | Promise<void>;
  /** Messages from the kernel on stdin (input requests). */
  stdin(m: JupyterMessage): void;
  /** Shell replies nobody waits for (execute replies). */
  shell(m: JupyterMessage): void;
}

/** Sends on one socket, one message at a time (zeromq allows one pending send). */
class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly socket: Dealer) {}
  send(frames: Buffer[]): Promise<void> {
    const next = this.tail.then(() => this.socket.send(frames));
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export class KernelChannels {
  readonly wire: Wire;
  private readonly shell: Dealer;
  private readonly control: Dealer;
  private readonly stdin: Dealer;
  private readonly iopub: Subscriber;
  private readonly hb: Request;
  private readonly queues: Record<"shell" | "control" | "stdin", SendQueue>;
  private readonly waiting = new Map<
    string,
    { resolve: (m: JupyterMessage) => void; reject: (err: Error) => void }
  >();
  private readonly loops: Promise<void>[] = [];
  private closed = false;
  /** Counts iopub messages: a fresh subscription misses the first few (ZeroMQ's slow joiner). */
  iopubSeen = 0;
  /**
   * Resolves once stdin's connection has finished its handshake: until then the kernel's
   * ROUTER does not know our identity and drops an input request (the code waits forever).
   * Each socket connects on its own, so shell answering says nothing about stdin.
   */
  readonly stdinConnected: Promise<void>;

  constructor(
    info: ConnectionInfo,
    identity: string,
    private readonly handlers: ChannelHandlers,
    private readonly log: Logger,
  ) {
    const tcp = info.transport === "tcp" && info.ip === "127.0.0.1";
    // A unix socket's path has room for 107 bytes.
    const ipc = info.transport === "ipc" && info.ip.startsWith("/") && info.ip.length < 100;
    if (!tcp && !ipc) {
      throw new CocalcError(
        "ERR_KERNEL_INVALID",
        "a kernel is reached on 127.0.0.1 over tcp or at a short absolute path over ipc",
      );
    }
    this.wire = new Wire(info.key);
    const url = (port: number) => (tcp ? `tcp://127.0.0.1:${port}` : `ipc://${info.ip}-${port}`);
    this.shell = new Dealer({ routingId: identity, linger: 0 });
    this.control = new Dealer({ linger: 0 });
    this.stdin = new Dealer({ routingId: identity, linger: 0 });
    this.iopub = new Subscriber({ linger: 0 });
    this.stdinConnected = new Promise((resolve) => {
      this.stdin.events.on("handshake", () => resolve());
    });
    this.shell.connect(url(info.shell_port));
    this.control.connect(url(info.control_port));
    this.stdin.connect(url(info.stdin_port));
    this.iopub.connect(url(info.iopub_port));
    this.iopub.subscribe();
    // Relaxed and correlated: a ping that got no answer does not block the next one.
    this.hb = new Request({ linger: 0, relaxed: true, correlate: true, receiveTimeout: 3000 });
    this.hb.connect(url(info.hb_port));
    this.queues = {
      shell: new SendQueue(this.shell),
      control: new SendQueue(this.control),
      stdin: new SendQueue(this.stdin),
    };
    this.loops.push(
      this.read(this.shell, "shell", (m) => this.handlers.shell(m)),
      this.read(this.control, "control", () => undefined),
      this.read(this.stdin, "stdin", (m) => this.handlers.stdin(m)),
      this.read(this.iopub, "iopub", (m) => {
        this.iopubSeen++;
        return this.handlers.iopub(m);
      }),
    );
  }

  private async read(
    socket: Dealer | Subscriber,
    channel: Channel,
    handle: (m: JupyterMessage) => void | Promise<void>,
  ): Promise<void> {
    try {
      for await (const frames of socket) {
        const m = this.wire.decode(frames);
        if (!m) {
          this.log.warn({ channel }, "kernel message dropped: malformed or badly signed");
          continue;
        }
        const parent = m.parent_header.msg_id;
        const waiter =
          parent !== undefined && channel !== "iopub" ? this.waiting.get(parent) : undefined;
        if (waiter) {
          this.waiting.delete(parent!);
          waiter.resolve(m);
          continue;
        }
        try {
          await handle(m);
        } catch (err) {
          this.log.error({ err, channel }, "kernel message not handled");
        }
      }
    } catch (err) {
      if (!this.closed) this.log.warn({ err, channel }, "kernel channel ended");
    }
  }

  /** Sends a message; returns its msg_id. */
  send(
    channel: "shell" | "control" | "stdin",
    msgType: string,
    content: Record<string, unknown>,
    o: { msgId?: string; parent?: Partial<MessageHeader> } = {},
  ): Promise<string> {
    const frames = this.wire.encode(msgType, content, o);
    const id = JSON.parse(frames[2]!.toString()).msg_id as string;
    return this.queues[channel].send(frames).then(() => id);
  }

  /** Sends a request and waits for its reply (ERR_KERNEL_TIMEOUT after `timeoutMs`). */
  async request(
    channel: "shell" | "control",
    msgType: string,
    content: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<JupyterMessage> {
    const frames = this.wire.encode(msgType, content);
    const id = JSON.parse(frames[2]!.toString()).msg_id as string;
    const reply = new Promise<JupyterMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(
          new CocalcError("ERR_KERNEL_TIMEOUT", `the kernel did not answer ${msgType} in time`),
        );
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
    // The reply may fail (closed, timed out) before the send is done: never unhandled.
    reply.catch(() => undefined);
    await this.queues[channel].send(frames);
    return reply;
  }

  /** One heartbeat: true when the kernel echoed it within 3 s. */
  async beat(): Promise<boolean> {
    try {
      await this.hb.send("ping");
      await this.hb.receive();
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.values())
      w.reject(new CocalcError("ERR_KERNEL_NOT_RUNNING", "the kernel's connection was closed"));
    this.waiting.clear();
    for (const s of [this.shell, this.control, this.stdin, this.iopub, this.hb]) s.close();
  }

  /** Resolves when every reading loop has ended (after close). */
  async closedAll(): Promise<void> {
    await Promise.all(this.loops);
  }
}
