/**
 * A run's sinks: their buffers (bounded, growing only when a reader waits on another sink, so
 * reading the sinks in any order cannot deadlock), and their three readers — `outputs[sink]`,
 * `entries(sink)`, and the run-to-completion `consume` (fused into the sink node's task when it
 * can be).
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { optionalFunction } from "../_internal/options.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";
import {
  type BarrierMessage,
  Cancelled,
  type ControlHandler,
  dispatchControl,
  Edge,
  type EndMessage,
  type GrowPolicy,
  ITEM,
  type Message,
  type Target,
} from "./edge.ts";
import type { RunContext, SinkRegistry, SinkView } from "./run_context.ts";
import type { SinkEntry } from "./run_types.ts";

/** A sink reader that has not pulled for this long may be blocked on another sink. */
const AWAY_MS = 50;

/** What `consume` calls per item. */
export type SinkConsumer = (item: unknown, info: { seq: number }) => unknown;

/**
 * One sink: its buffer and where its reader is. As a `ControlHandler` it is the one tail every
 * reader shares: a hole takes a sequence number, a barrier is acknowledged with the sequence
 * number reached, the end ends the sink (`true`).
 */
export class SinkRuntime implements ControlHandler<boolean>, SinkView {
  readonly name: string;
  readonly edge: Edge;
  /** The next output's sequence number (outputs delivered, holes included). */
  seq = 0;
  ended = false;
  /** Ended by its source's exhaustion (not by a stop or an abandoned reader). */
  flushed = false;
  /** Read by `consume` (its waits do not let other sinks grow). */
  managed = false;
  reading = false;
  /**
   * Abandoned by `stop()` before anyone read it: its items were discarded, so no checkpoint may
   * count them as delivered (a resume delivers them again, as after a crash).
   */
  unread = false;
  /** When its reader last pulled (`performance.now()`). */
  lastPull = 0;
  /** Resolves when it ends. */
  readonly ends: Promise<void>;
  #ended!: () => void;
  readonly #context: RunContext;

  constructor(context: RunContext, name: string, edge: Edge) {
    this.#context = context;
    this.name = name;
    this.edge = edge;
    this.ends = new Promise<void>((resolve) => (this.#ended = resolve));
  }

  /** A hole: it takes a sequence number. */
  hole(): boolean {
    this.seq++;
    return false;
  }

  /** The barrier of checkpoint `k`: acknowledged with the sequence number reached. */
  barrier(m: BarrierMessage): boolean {
    this.#context.barriers.ack(this.name, m.checkpoint, this.seq);
    return false;
  }

  /** The end: the sink ends. */
  end(m: EndMessage): boolean {
    this.finish(m.flush);
    return true;
  }

  /** End the sink (`abandoned`: its reader left, or nobody will read it). */
  finish(flush: boolean, abandoned = false): void {
    if (this.ended) return;
    this.ended = true;
    this.flushed = flush && !abandoned;
    this.#context.barriers.sinkEnded(this);
    this.#ended();
  }
}

/** The sinks of a run, by name, with their grow policy and readers. */
export class SinkSet implements SinkRegistry {
  readonly byName = new Map<string, SinkRuntime>();
  readonly #context: RunContext;
  /** Readers waiting on an empty sink (of the readers that let other sinks grow). */
  #readersWaiting = 0;
  #growTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #grow: GrowPolicy;

  constructor(context: RunContext) {
    this.#context = context;
    this.#grow = {
      canGrow: () => this.#readersWaiting > 0,
      readerWaiting: (d) => {
        this.#readersWaiting += d;
        if (d > 0) this.#wakeProducers();
      },
      grew: (edge) => context.log({ type: "sink-grow", sink: edge.name, capacity: edge.capacity }),
    };
  }

  /** Add the buffer of sink `name` (fed by node `name`) and its `outputs` iterable. */
  add(name: string, capacity: number): AsyncIterable<unknown> {
    const grow = this.#grow;
    const byName = this.byName;
    const policy: GrowPolicy = {
      canGrow: () => {
        if (!grow.canGrow()) return false;
        const sink = byName.get(name)!;
        // Another sink's reader waits. Grow when this sink has no reader (it is read later:
        // the wrong-order case), or its reader has not pulled for a while (it may be blocked
        // on the other sink); a sink whose reader keeps pulling stays bounded.
        if (!sink.reading) return true;
        if (performance.now() - sink.lastPull >= AWAY_MS) return true;
        this.#armGrowTimer();
        return false;
      },
      readerWaiting: (d) => {
        if (!byName.get(name)!.managed) grow.readerWaiting(d);
      },
      grew: grow.grew,
    };
    const edge = new Edge(name, capacity, policy);
    const sink = new SinkRuntime(this.#context, name, edge);
    this.#context.edges.push(edge);
    this.#context.nodes.get(name)!.targets.push(edge);
    this.byName.set(name, sink);
    return {
      [Symbol.asyncIterator]: () => {
        const it = this.#read(sink);
        return {
          async next(): Promise<IteratorResult<unknown>> {
            const r = await it.next();
            return r.done
              ? { done: true, value: undefined }
              : { done: false, value: r.value.value };
          },
          async return(): Promise<IteratorResult<unknown>> {
            await it.return(undefined);
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  /** The sink's outputs with their sequence numbers. */
  entries(name: string): AsyncIterable<SinkEntry> {
    const s = this.byName.get(name);
    if (s === undefined) {
      throw new InvalidArgumentError("read a sink", "no sink has this name", { received: name });
    }
    return { [Symbol.asyncIterator]: () => this.#read(s) };
  }

  /** Abandon every sink nobody reads (a stop: their items have nowhere to go). */
  abandonUnread(): void {
    for (const s of this.byName.values()) {
      if (!s.reading && !s.ended) {
        s.unread = true;
        this.#abandon(s);
      }
    }
  }

  /** Stop the grow timer (the run ended). */
  stopTimer(): void {
    if (this.#growTimer !== undefined) clearTimeout(this.#growTimer);
    this.#growTimer = undefined;
  }

  /** Drain a sink through `fn` (bounded: the run-to-completion form). */
  async consume(name: string, fn?: SinkConsumer, keep?: unknown[]): Promise<void> {
    const action = "read a sink";
    const s = this.byName.get(name);
    if (s === undefined) {
      throw new InvalidArgumentError(action, "no sink has this name", { received: name });
    }
    optionalFunction(action, "fn", fn);
    if (keep !== undefined && !Array.isArray(keep)) {
      throw new InvalidArgumentError(action, "keep must be an array", { received: keep });
    }
    this.#startReading(s, true);
    if (s.ended) return; // abandoned by stop() before anyone read it
    const context = this.#context;
    const node = context.nodes.get(name)!;
    const at = node.targets.indexOf(s.edge);
    if (context.plan.fuse && !context.started && at >= 0) {
      // Fuse the consumer into the sink node's task: no hand-off per item.
      node.targets[at] = new ConsumerTarget(context, s, fn, keep);
      await Promise.race([s.ends, context.failure]);
      if (context.failed) throw context.error;
      return;
    }
    try {
      for (;;) {
        if (turnDue()) await giveTurn();
        const m = s.edge.tryPull() ?? await s.edge.pull();
        s.lastPull = performance.now();
        if (m.kind === ITEM) {
          const seq = s.seq++;
          if (fn) {
            const r = fn(m.value, { seq });
            if (r instanceof Promise) await r;
          }
          keep?.push(m.value);
        } else if (dispatchControl(m, s)) return;
      }
    } catch (e) {
      if (e instanceof Cancelled) throw e.reason;
      context.fail(e);
      throw e;
    }
  }

  #startReading(s: SinkRuntime, managed: boolean): void {
    if (s.reading) {
      throw new InvalidArgumentError("read a sink", "the sink is already being read", {
        received: s.name,
      });
    }
    s.reading = true;
    s.managed = managed;
  }

  async *#read(s: SinkRuntime): AsyncGenerator<SinkEntry, void, undefined> {
    this.#startReading(s, false);
    if (s.ended) return; // abandoned by stop() before anyone read it
    let finished = false;
    try {
      for (;;) {
        let m: Message;
        if (turnDue()) await giveTurn();
        try {
          m = s.edge.tryPull() ?? await s.edge.pull();
        } catch (e) {
          throw e instanceof Cancelled ? e.reason : e;
        }
        s.lastPull = performance.now();
        if (m.kind === ITEM) yield { value: m.value, seq: s.seq++ };
        else if (dispatchControl(m, s)) {
          finished = true;
          return;
        }
      }
    } finally {
      // The reader left early: drop the rest of this sink and stop waiting for it.
      if (!finished && !this.#context.failed) this.#abandon(s);
    }
  }

  /** Drop the rest of sink `s` (nobody will read it) and stop waiting for it. */
  #abandon(s: SinkRuntime): void {
    s.edge.discard = true;
    while (s.edge.size > 0) s.edge.tryPull();
    s.finish(false, true);
  }

  #wakeProducers(): void {
    for (const s of this.byName.values()) s.edge.wakeProducer();
  }

  #armGrowTimer(): void {
    if (this.#growTimer !== undefined || this.#context.failed) return;
    this.#growTimer = setTimeout(() => {
      this.#growTimer = undefined;
      this.#wakeProducers();
    }, AWAY_MS);
  }
}

/**
 * A `consume` reader fused into the sink node's task: `tryPush` hands the item to the consumer
 * at once and returns whether that finished synchronously; if not, `push` awaits it.
 */
class ConsumerTarget implements Target {
  readonly #context: RunContext;
  readonly #sink: SinkRuntime;
  readonly #fn: SinkConsumer | undefined;
  readonly #keep: unknown[] | undefined;
  #inProgress: Promise<void> | undefined;

  constructor(
    context: RunContext,
    sink: SinkRuntime,
    fn: SinkConsumer | undefined,
    keep: unknown[] | undefined,
  ) {
    this.#context = context;
    this.#sink = sink;
    this.#fn = fn;
    this.#keep = keep;
  }

  tryPush(m: Message): boolean {
    const context = this.#context;
    if (context.failed) throw new Cancelled(context.error);
    if (m.kind !== ITEM) {
      dispatchControl(m, this.#sink);
      return true;
    }
    const s = this.#sink;
    const seq = s.seq++;
    this.#keep?.push(m.value);
    const fn = this.#fn;
    if (fn === undefined) return true;
    let r: unknown;
    try {
      r = fn(m.value, { seq });
    } catch (e) {
      this.#failed(e);
    }
    if (!(r instanceof Promise)) return true;
    this.#inProgress = r.then(() => {}, (e) => this.#failed(e));
    return false;
  }

  async push(): Promise<void> {
    const p = this.#inProgress;
    this.#inProgress = undefined;
    await p;
  }

  #failed(e: unknown): never {
    if (e instanceof Cancelled) throw e;
    this.#context.fail(e);
    throw new Cancelled(e);
  }
}
