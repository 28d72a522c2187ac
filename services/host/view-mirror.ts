/**
 * A joined host's workspace views, mirrored to the hub: every change of the host's
 * `workspaces` view is sent on `hostview.<hostId>` as it happens (core NATS), and all of them
 * again every `resendMs`, so a hub that missed some (it restarted, the leaf was down) has them
 * all again within that time. The hub keeps its own copy for the people's dashboards.
 */
import type { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { HostWorkspaceViewUpdate, WorkspaceView } from "../../shared/launchpad.js";
import { Buckets, hostSubjects } from "../../shared/subjects.js";
import type { Logger } from "../runtime/logger.js";

export interface ViewMirror {
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function mirrorWorkspaceViews(o: {
  nc: NatsConnection;
  kvm: Kvm;
  hostId: string;
  log: Logger;
  resendMs?: number;
}): Promise<ViewMirror> {
  const subject = hostSubjects(o.hostId).views;
  const kv = await o.kvm.open(Buckets.workspaces);
  const latest = new Map<string, WorkspaceView | null>();
  const send = (wsid: string, view: WorkspaceView | null) => {
    const update: HostWorkspaceViewUpdate = { wsid, view };
    o.nc.publish(subject, JSON.stringify(update));
  };
  const watch = await kv.watch();
  const done = (async () => {
    for await (const e of watch) {
      let view: WorkspaceView | null = null;
      if (e.operation === "PUT" && e.length > 0) {
        try {
          view = e.json<WorkspaceView>();
        } catch {
          o.log.warn({ key: e.key }, "workspace view is not JSON: not mirrored");
          continue;
        }
      }
      latest.set(e.key, view);
      send(e.key, view);
      // A gone workspace is said once more at the next resend, then forgotten.
    }
  })();
  const resend = setInterval(() => {
    for (const [wsid, view] of latest) {
      send(wsid, view);
      if (view === null) latest.delete(wsid);
    }
  }, o.resendMs ?? 30_000);
  resend.unref();
  return {
    done,
    async stop() {
      clearInterval(resend);
      watch.stop();
      await done.catch(() => undefined);
    },
  };
}
