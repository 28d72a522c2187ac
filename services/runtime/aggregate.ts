/**
 * An event-sourced aggregate on one subject: its state folded from the stream (cached, caught
 * up from the last seen sequence) and decided events published with the expected last
 * subject sequence, decided again when another writer came first.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Command } from "../../shared/commands.js";
import type { DecidedEvent, Decider } from "../../shared/decider.js";
import { type EventDefinition, type EventRegistry, envelope } from "../../shared/envelope.js";
import { CocalcError } from "../../shared/errors.js";
import { lastSubjectSeq, readSubject } from "./commands.js";
import { isWrongLastSequence, publishEvent } from "./publish.js";

export class AggregateStore<C extends Command, E extends DecidedEvent, S> {
  private readonly cache = new Map<string, { state: S; seq: number }>();
  private readonly versions: Map<string, number>;

  constructor(
    private readonly o: {
      js: JetStreamClient;
      jsm: JetStreamManager;
      stream: string;
      registry: EventRegistry;
      events: readonly EventDefinition[];
      decider: Decider<C, E, S>;
    },
  ) {
    this.versions = new Map(o.events.map((d) => [d.type, d.v]));
  }

  /** The current state of the aggregate on `subject`. */
  async state(subject: string): Promise<{ state: S; seq: number }> {
    const cached = this.cache.get(subject) ?? { state: this.o.decider.initialState(), seq: 0 };
    const last = await lastSubjectSeq(this.o.jsm, this.o.stream, subject);
    if (last < cached.seq) {
      this.cache.delete(subject);
      return this.state(subject);
    }
    let { state, seq } = cached;
    for (const e of await readSubject(
      this.o.js,
      this.o.registry,
      this.o.stream,
      subject,
      seq,
      last,
    )) {
      state = this.o.decider.evolve(state, e.event as unknown as E);
      seq = e.seq;
    }
    const next = { state, seq };
    this.cache.set(subject, next);
    return next;
  }

  /** Decides `command` on the current state and publishes the events; returns the new state. */
  async execute(subject: string, command: C): Promise<{ state: S; seqs: number[] }> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const { state, seq } = await this.state(subject);
      const decided = this.o.decider.decide(command, state);
      const seqs: number[] = [];
      let expected = seq;
      let next = state;
      try {
        for (const d of decided) {
          const v = this.versions.get(d.type);
          if (v === undefined) throw new Error(`decider emitted unknown event ${d.type}`);
          const ev = envelope({ type: d.type, v }, d.data, {
            actor: command.actor,
            at: command.at,
          });
          this.o.registry.check(ev);
          const ack = await publishEvent(this.o.js, subject, ev, {
            expectLastSubjectSeq: expected,
          });
          expected = ack.seq;
          seqs.push(ack.seq);
          next = this.o.decider.evolve(next, d);
        }
        if (seqs.length > 0) this.cache.set(subject, { state: next, seq: expected });
        return { state: next, seqs };
      } catch (err) {
        if (!isWrongLastSequence(err) || seqs.length > 0) throw err;
      }
    }
    throw new CocalcError("ERR_COMMAND_CONFLICT", `${command.type}: the state kept changing`);
  }

  /** Only decides: throws when `command` is not allowed now. */
  async check(subject: string, command: C): Promise<E[]> {
    return this.o.decider.decide(command, (await this.state(subject)).state);
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
