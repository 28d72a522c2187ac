/**
 * The one command path. An event-sourced aggregate on one subject: its state folded from the
 * stream (cached, caught up from the last seen sequence), and a command's decided events
 * published with the expected last subject sequence, decided again when another writer came
 * first. Events the fold could not read are skipped; the next command records why, once, as
 * EventRejected events published before its own.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Command } from "../../shared/commands.js";
import type { DecidedEvent, Decider } from "../../shared/decider.js";
import {
  type Envelope,
  type EventDefinition,
  type EventRegistry,
  envelope,
} from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import { EventRejected, REJECTION_ACTOR, type Rejection } from "../../shared/rejections.js";
import { emptyFold, type Folded, foldMessages } from "./fold.js";
import type { Logger } from "./logger.js";
import { isWrongLastSequence, publishEvent } from "./publish.js";
import { rejectionRegistry } from "./rejections.js";
import { lastSubjectSeq, nextSubjectMessage, readNewSubjectMessages } from "./stream-read.js";

export interface AggregateOptions<C extends Command, E extends DecidedEvent, S> {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Where a recorded rejection is logged (the service's logger). */
  log: Logger;
  stream: string;
  registry: EventRegistry;
  events: readonly EventDefinition[];
  decider: Decider<C, E, S>;
}

const MAX_ATTEMPTS = 10;

/** An event ready to publish; `decided` when the command decided it (not a rejection record). */
interface Outgoing {
  event: Envelope;
  decided?: DecidedEvent;
  rejection?: Rejection;
}

export class AggregateStore<C extends Command, E extends DecidedEvent, S> {
  private readonly cache = new Map<string, Folded<S>>();
  private readonly versions: Map<string, number>;

  constructor(private readonly o: AggregateOptions<C, E, S>) {
    this.versions = new Map(o.events.map((d) => [d.type, d.v]));
  }

  /** The current state of the aggregate on `subject`, as its readable events say. */
  async state(subject: string): Promise<Folded<S>> {
    const cached = this.cache.get(subject) ?? emptyFold(this.o.decider);
    // Asked together: when the subject moved on by an event, that is one round trip, not two.
    const first = nextSubjectMessage(this.o.jsm, this.o.stream, subject, cached.seq);
    first.catch(() => undefined);
    const last = await lastSubjectSeq(this.o.jsm, this.o.stream, subject);
    if (last < cached.seq) {
      // The stream was reset underneath us; start from scratch.
      this.cache.delete(subject);
      return this.state(subject);
    }
    const messages = await readNewSubjectMessages(
      this.o.js,
      this.o.jsm,
      this.o.stream,
      subject,
      cached.seq,
      last,
      first,
    );
    const next = foldMessages(this.o.decider, this.o.registry, cached, messages);
    this.cache.set(subject, next);
    return next;
  }

  /** Decides `command` on the current state and publishes the events; returns the new state. */
  async execute(subject: string, command: C): Promise<{ state: S; seqs: number[] }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // The cached state first (no round trip to ask for the subject's last sequence): its
      // events are published expecting the cached sequence, so a state that moved on meanwhile
      // fails the publish and the command is decided again on the stream's. Only a command that
      // decides events goes this way: a refusal or a no-op is said on the stream's state.
      const cached = attempt === 0 ? this.cache.get(subject) : undefined;
      if (cached && cached.unrecorded.length === 0) {
        let decided: E[] | undefined;
        try {
          decided = this.o.decider.decide(command, cached.state);
        } catch {
          decided = undefined;
        }
        if (decided && decided.length > 0) {
          const published = await this.publish(
            subject,
            cached,
            decided.map((d) => this.eventOf(d, command)),
          );
          if (published) return published;
          continue;
        }
      }
      const folded = await this.state(subject);
      const decided = this.o.decider.decide(command, folded.state);
      const outgoing = [
        ...folded.unrecorded.map((r) => this.rejectionOf(r, command)),
        ...decided.map((d) => this.eventOf(d, command)),
      ];
      if (outgoing.length === 0) return { state: folded.state, seqs: [] };
      const published = await this.publish(subject, folded, outgoing);
      if (published) return published;
    }
    throw new CocalcError(
      "ERR_COMMAND_CONFLICT",
      `${command.type}: the state kept changing; try again`,
    );
  }

  /** Only decides: throws when `command` is not allowed now. */
  async check(subject: string, command: C): Promise<E[]> {
    return this.o.decider.decide(command, (await this.state(subject)).state);
  }

  /**
   * Publishes in order, each expecting the one before; undefined when another writer came
   * first before any decided event was stored (then the command is decided again).
   */
  private async publish(
    subject: string,
    folded: Folded<S>,
    outgoing: readonly Outgoing[],
  ): Promise<{ state: S; seqs: number[] } | undefined> {
    let { state, seq: expected, unrecorded } = folded;
    const seqs: number[] = [];
    for (const o of outgoing) {
      try {
        expected = (
          await publishEvent(this.o.js, subject, o.event, { expectLastSubjectSeq: expected })
        ).seq;
      } catch (err) {
        if (isWrongLastSequence(err) && seqs.length === 0) return undefined;
        throw err;
      }
      if (o.rejection) {
        const { seq, error } = o.rejection;
        unrecorded = unrecorded.filter((r) => r.seq !== seq);
        this.o.log.warn(
          { subject, seq, code: error.code, reason: error.message },
          "unreadable event skipped; its rejection is recorded",
        );
      }
      if (o.decided) {
        state = this.o.decider.evolve(state, o.decided as E);
        seqs.push(expected);
      }
      this.cache.set(subject, { state, seq: expected, unrecorded });
    }
    return { state, seqs };
  }

  private eventOf(d: E, command: C): Outgoing {
    const v = this.versions.get(d.type);
    if (v === undefined)
      throw new Error(`decider emitted ${d.type}, which is not an event of this aggregate`);
    const event = envelope({ type: d.type, v }, d.data, { actor: command.actor, at: command.at });
    this.o.registry.check(event);
    return { event, decided: d };
  }

  private rejectionOf(rejection: Rejection, command: C): Outgoing {
    const event = envelope(EventRejected, rejection, { actor: REJECTION_ACTOR, at: command.at });
    rejectionRegistry.check(event);
    return { event, rejection };
  }
}

/** Runs tasks with the same key one after another. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(task, task);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
