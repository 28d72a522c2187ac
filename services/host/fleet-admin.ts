/**
 * The fleet's commands for admins and the console (`fleetcmd`, which only the hub's services
 * may send: the gateway for a signed-in admin, the console): drain and undrain a host, and
 * import an image onto one with its progress relayed. Each is recorded on the host's
 * `registry.host.<hostId>` with who asked as the actor, so the admin's activity page lists it.
 */
import type { Msg } from "@nats-io/nats-core";
import { type Command, parseCommand } from "../../shared/commands.js";
import { CocalcError, type ErrorPayload, fromErrorPayload } from "../../shared/errors.js";
import { FleetCommands, type HostView, type ImageSource } from "../../shared/launchpad.js";
import { RegistrySubjects } from "../../shared/subjects.js";
import type { AggregateStore } from "../runtime/aggregate.js";
import type { Logger } from "../runtime/logger.js";
import type { HostAdminCommand, HostAdminDecided, HostAdminState } from "./host-admin.js";
import { adminImageSource, listImageSources } from "./image-sources.js";

/** Who the console is, as an actor. */
export const CONSOLE = "console";

export interface FleetAdminDeps {
  store: AggregateStore<HostAdminCommand, HostAdminDecided, HostAdminState>;
  log: Logger;
  now(): Date;
  imagesDir?: string;
  /** The host as the control plane last heard it; undefined when never. */
  hostView(hostId: string): Promise<HostView | undefined>;
  isOnline(v: HostView | undefined): boolean;
  offline(hostId: string, v: HostView | undefined): CocalcError;
  /** The host's admin state changed: its `hosts` record shows it now. */
  changed(hostId: string, state: HostAdminState): Promise<void>;
  /** Sends ImportImage to the host, its progress lines to `m`'s requester; the host's reply. */
  sendImport(
    hostId: string,
    data: { name: string; source: string; description?: string },
    m: Msg,
  ): Promise<{ ok: boolean; error?: ErrorPayload }>;
}

type Data = {
  hostId?: string;
  name?: string;
  source?: string;
  description?: string;
  by?: string;
};

/** Answers one fleet command; what the answer carries besides `ok`. */
export function fleetAdmin(d: FleetAdminDeps): (m: Msg) => Promise<object> {
  const known = async (hostId: string) => {
    const v = await d.hostView(hostId);
    if (v === undefined)
      throw new CocalcError(
        "ERR_HOST_NOT_FOUND",
        `the hub has never heard host ${hostId} (it never joined, or never started)`,
      );
    return v;
  };
  return async (m) => {
    const at = d.now().toISOString();
    const c = parseCommand<Command<string, Data>>(FleetCommands, m.data, { actor: CONSOLE, at });
    const actor = c.data.by ?? CONSOLE;
    if (c.type === "ListImageSources") {
      const result: ImageSource[] = await listImageSources(d.imagesDir);
      return { result };
    }
    const hostId = c.data.hostId!;
    const subject = RegistrySubjects.host(hostId);
    if (c.type === "DrainHost" || c.type === "UndrainHost") {
      await known(hostId);
      const r = await d.store.execute(subject, {
        type: c.type,
        data: { hostId },
        actor,
        at,
      });
      await d.changed(hostId, r.state);
      if (r.seqs.length > 0)
        d.log.info(
          { hostId, by: actor },
          c.type === "DrainHost" ? "host drained" : "host undrained",
        );
      return { seqs: r.seqs, drainedAt: r.state.status === "drained" ? r.state.since : null };
    }
    // ImportImageOnHost
    const { name, description } = c.data as Required<Pick<Data, "name">> & Data;
    // An admin imports only from the hub's images directory; the console (root) from anywhere.
    const source =
      c.data.by === undefined
        ? c.data.source!
        : await adminImageSource(d.imagesDir, c.data.source!);
    const v = await known(hostId);
    if (!d.isOnline(v)) throw d.offline(hostId, v);
    const reply = await d.sendImport(
      hostId,
      { name, source, ...(description !== undefined && { description }) },
      m,
    );
    if (!reply.ok)
      throw fromErrorPayload(
        reply.error ?? { code: "ERR_HOST_OFFLINE", message: `host ${hostId} did not answer` },
      );
    const r = await d.store.execute(subject, {
      type: "RecordImageImported",
      data: { hostId, name, source },
      actor,
      at,
    });
    d.log.info({ hostId, image: name, by: actor }, "image imported on a host");
    return { seqs: r.seqs };
  };
}
