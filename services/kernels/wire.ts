/**
 * The Jupyter messaging protocol on the wire (version 5.3): a message is a multipart ZeroMQ
 * message `[identities…, "<IDS|MSG>", signature, header, parent_header, metadata, content,
 * buffers…]`, signed with HMAC-SHA256 over the four JSON frames with the connection's key.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";

export const DELIMITER = "<IDS|MSG>";
export const PROTOCOL_VERSION = "5.3";

export interface MessageHeader {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

/** A decoded message. Content is as the kernel sent it; readers check the fields they use. */
export interface JupyterMessage {
  header: MessageHeader;
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  buffers: Buffer[];
}

/** Signs and reads messages of one connection (its key and session id). */
export class Wire {
  readonly session = randomUUID();
  private readonly key: Buffer;

  constructor(key: string) {
    this.key = Buffer.from(key, "utf8");
  }

  private sign(frames: readonly Buffer[]): string {
    if (this.key.length === 0) return "";
    const h = createHmac("sha256", this.key);
    for (const f of frames) h.update(f);
    return h.digest("hex");
  }

  /** The frames of a new message (no identities: DEALER sockets need none). */
  encode(
    msgType: string,
    content: Record<string, unknown>,
    o: { msgId?: string; parent?: Partial<MessageHeader>; metadata?: Record<string, unknown> } = {},
  ): Buffer[] {
    const header: MessageHeader = {
      msg_id: o.msgId ?? randomUUID(),
      session: this.session,
      username: "cocalc",
      date: new Date().toISOString(),
      msg_type: msgType,
      version: PROTOCOL_VERSION,
    };
    const frames = [header, o.parent ?? {}, o.metadata ?? {}, content].map((v) =>
      Buffer.from(JSON.stringify(v), "utf8"),
    );
    return [Buffer.from(DELIMITER), Buffer.from(this.sign(frames)), ...frames];
  }

  /** Reads a received message; undefined when it is malformed or its signature is wrong. */
  decode(frames: readonly Buffer[]): JupyterMessage | undefined {
    const at = frames.findIndex((f) => f.length === DELIMITER.length && f.toString() === DELIMITER);
    if (at < 0 || frames.length < at + 6) return undefined;
    const signature = frames[at + 1]!;
    const parts = frames.slice(at + 2, at + 6);
    const expected = Buffer.from(this.sign(parts));
    if (expected.length !== signature.length || !timingSafeEqual(expected, signature)) {
      return undefined;
    }
    try {
      const [header, parent, metadata, content] = parts.map((p) => JSON.parse(p.toString("utf8")));
      if (typeof header?.msg_type !== "string") return undefined;
      return {
        header,
        parent_header: parent ?? {},
        metadata: metadata ?? {},
        content: content ?? {},
        buffers: frames.slice(at + 6),
      };
    } catch {
      return undefined;
    }
  }
}
