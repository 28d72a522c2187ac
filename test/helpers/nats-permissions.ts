/**
 * Whether nats-server lets a connection publish a subject: a permission violation for it (as
 * the server checked it) comes back on the connection's status, anything else (a reply, an
 * error answer, "no responders") means the publish went through.
 */
import {
  type NatsConnection,
  NoRespondersError,
  PermissionViolationError,
} from "@nats-io/nats-core";

export type Outcome = "denied" | "allowed";

/** Permission violations the server reported on each watched connection, by subject. */
const violations = new WeakMap<NatsConnection, Map<string, () => void>>();

/** Starts listening for `nc`'s permission violations (once, right after it connects). */
export function watchViolations(nc: NatsConnection): void {
  const waiting = new Map<string, () => void>();
  violations.set(nc, waiting);
  void (async () => {
    for await (const st of nc.status()) {
      if (st.type !== "error" || !(st.error instanceof PermissionViolationError)) continue;
      waiting.get(st.error.subject)?.();
    }
  })();
}

/**
 * A request's fate. `checked` is the subject as the server checks it (its own JetStream
 * domain's API is mapped to the local form first); by default the subject itself.
 */
export async function publishOutcome(
  nc: NatsConnection,
  subject: string,
  body = "",
  checked = subject,
): Promise<Outcome> {
  const waiting = violations.get(nc);
  if (!waiting) throw new Error("connection without a violations watch");
  const denied = new Promise<Outcome>((r) => waiting.set(checked, () => r("denied")));
  const answered = nc.request(subject, body, { timeout: 10_000 }).then(
    () => "allowed" as const,
    (err: unknown) => {
      const cause = (err as { cause?: unknown }).cause;
      if (err instanceof NoRespondersError || cause instanceof NoRespondersError) return "allowed";
      if (err instanceof PermissionViolationError || cause instanceof PermissionViolationError)
        return "denied";
      throw err;
    },
  );
  try {
    return await Promise.race([denied, answered]);
  } finally {
    waiting.delete(checked);
  }
}
