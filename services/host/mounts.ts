/**
 * Reference-counted overlay mounts. Each holder (a workspace container, a sandboxed exec, an
 * agent) references a mount with a `MountReferenced` event and lets go with `MountReleased`;
 * the overlay is mounted with the first holder and unmounted exactly when the last one leaves.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Decider } from "../../shared/decider.js";
import { EventRegistry } from "../../shared/envelope.js";
import { MountEvents, type MountHolder } from "../../shared/launchpad.js";
import { mountSubject, Streams } from "../../shared/subjects.js";
import { AggregateStore, KeyedMutex } from "../runtime/aggregate.js";
import type { Logger } from "../runtime/logger.js";
import { isMounted, overlay } from "./system.js";

export interface OverlaySpec {
  lower: string;
  upper: string;
  work: string;
  target: string;
}

type MountCommand =
  | {
      type: "Reference";
      data: { holder: MountHolder; spec: OverlaySpec };
      actor: string;
      at: string;
    }
  | { type: "Release"; data: { holder: MountHolder }; actor: string; at: string };

type MountDecided =
  | {
      type: "MountReferenced";
      data: { holder: string; target: string; lower: string; upper: string };
    }
  | { type: "MountReleased"; data: { holder: string } };

export interface MountState {
  holders: string[];
  target: string;
}

/** Holders as a set: referencing twice or releasing what is not held changes nothing. */
export const mountDecider: Decider<MountCommand, MountDecided, MountState> = {
  initialState: () => ({ holders: [], target: "" }),
  decide(command, state) {
    switch (command.type) {
      case "Reference": {
        if (state.holders.includes(command.data.holder)) return [];
        const { target, lower, upper } = command.data.spec;
        return [
          { type: "MountReferenced", data: { holder: command.data.holder, target, lower, upper } },
        ];
      }
      case "Release":
        return state.holders.includes(command.data.holder)
          ? [{ type: "MountReleased", data: { holder: command.data.holder } }]
          : [];
      default: {
        const never: never = command;
        throw new Error(`unhandled command ${(never as { type: string }).type}`);
      }
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case "MountReferenced":
        return { holders: [...state.holders, event.data.holder], target: event.data.target };
      case "MountReleased":
        return { ...state, holders: state.holders.filter((h) => h !== event.data.holder) };
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${(never as { type: string }).type}`);
      }
    }
  },
};

export const mountRegistry = new EventRegistry(MountEvents);

export class MountManager {
  private readonly store: AggregateStore<MountCommand, MountDecided, MountState>;
  private readonly lock = new KeyedMutex();

  constructor(
    private readonly o: {
      js: JetStreamClient;
      jsm: JetStreamManager;
      log: Logger;
      hostId: string;
      now(): Date;
    },
  ) {
    this.store = new AggregateStore({
      js: o.js,
      jsm: o.jsm,
      log: o.log,
      stream: Streams.MOUNTS,
      registry: mountRegistry,
      events: MountEvents,
      decider: mountDecider,
    });
  }

  private meta() {
    return { actor: `host:${this.o.hostId}`, at: this.o.now().toISOString() };
  }

  /** The holders of a mount, from its events. */
  async holders(mountId: string): Promise<string[]> {
    return (await this.store.state(mountSubject(this.o.hostId, mountId))).state.holders;
  }

  /** Mounts (if nobody holds it yet) and records `holder`. */
  reference(mountId: string, holder: MountHolder, spec: OverlaySpec): Promise<void> {
    return this.lock.run(mountId, async () => {
      // Mount first: a crash after mounting leaves a mount without holders, which the
      // reconciler unmounts; the other order could leave a holder of nothing.
      if (!(await isMounted(spec.target))) await overlay.mount(spec);
      await this.store.execute(mountSubject(this.o.hostId, mountId), {
        type: "Reference",
        data: { holder, spec },
        ...this.meta(),
      });
    });
  }

  /** Records that `holder` let go; unmounts when it was the last. */
  release(mountId: string, holder: MountHolder): Promise<void> {
    return this.lock.run(mountId, async () => {
      const subject = mountSubject(this.o.hostId, mountId);
      const { state } = await this.store.execute(subject, {
        type: "Release",
        data: { holder },
        ...this.meta(),
      });
      if (state.holders.length === 0 && state.target) await overlay.unmount(state.target);
    });
  }

  /** Unmounts `target` if no holder is recorded for `mountId` (reconciliation). */
  unmountIfUnheld(mountId: string, target: string): Promise<boolean> {
    return this.lock.run(mountId, async () => {
      const { state } = await this.store.state(mountSubject(this.o.hostId, mountId));
      if (state.holders.length > 0 || !(await isMounted(target))) return false;
      await overlay.unmount(target);
      return true;
    });
  }
}
