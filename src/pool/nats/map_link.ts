/**
 * What a {@linkcode NatsPool} keeps for one active map ({@linkcode Link}: its wire id, results
 * reader, result gate, publishes in flight, task sequences), a chunk's identity on the wire (its
 * input range, {@linkcode rangeOf}), and the clean-up of an unkeyed map that ended (a keyed
 * one's is `KeyedRuns.end`, `keyed_run.ts`).
 *
 * @module
 */

import { InvalidArgumentError } from "../../errors.ts";
import type { Chunk, MapRun } from "../map_run.ts";
import type { JsMsg, NatsHandle } from "./client.ts";
import { chunkRange, type PoolNames, ResultGate, tasksSubject } from "./protocol.ts";
import type { ResultsReader } from "./results_reader.ts";

/** One active map: its results reader and the chunks waiting for a result. */
export interface Link {
  /** The map id on the wire ("" until a keyed map's run is opened). */
  id: string;
  /** A keyed map's key id (`keyId` of protocol.ts), else undefined. */
  readonly keyId: string | undefined;
  /** Set once `id` is known (a keyed map looks its run up first): chunks go out from then on. */
  reader: ResultsReader | undefined;
  /** A keyed map's run lookup (it never rejects: a failure fails the map). */
  opening: Promise<void>;
  readonly gate: ResultGate<Chunk, JsMsg>;
  /** Publishes not yet answered by the server (a purge waits for them). */
  readonly publishing: Set<Promise<unknown>>;
  /** The task stream sequence of each chunk published and not answered yet. */
  readonly seqs: Map<number, number>;
}

/** What a task given up by the server carried. */
export interface Sent {
  readonly run: MapRun;
  readonly link: Link;
  readonly chunk: Chunk;
}

/** A new link (`keyId`: a keyed map's key id; its gate then keeps early results). */
export function newLink(keyId: string | undefined): Link {
  return {
    id: "",
    keyId,
    reader: undefined,
    opening: Promise.resolve(),
    gate: new ResultGate<Chunk, JsMsg>(keyId !== undefined),
    publishing: new Set(),
    seqs: new Map(),
  };
}

/** A chunk's identity on the wire: its input range. */
export function rangeOf(chunk: Chunk): string {
  return chunkRange(chunk.start, chunk.items.length);
}

/** The error of a second live map with one key on a pool. */
export function keyInUse(action: string, key: unknown): InvalidArgumentError {
  return new InvalidArgumentError(
    action,
    "a map with this key is running on this pool (one live map per key)",
    { received: key },
  );
}

/**
 * An unkeyed map ended: close its reader (its consumer and unread results go) and, when chunks
 * may still be queued, remove its tasks (best effort: else they run for nothing).
 */
export function endUnkeyed(
  nats: NatsHandle,
  names: PoolNames,
  pool: string,
  link: Link,
): Promise<unknown> {
  const closed = link.reader?.close();
  if (link.gate.size === 0 && link.publishing.size === 0) return closed ?? Promise.resolve();
  const filter = tasksSubject(pool, link.id);
  const purged = Promise.allSettled([...link.publishing])
    .then(() => nats.jsm.streams.purge(names.stream, { filter }));
  return Promise.allSettled([closed, purged]);
}
