/**
 * Sending a slot's batch of chunks: transfer lists, the wire form, the per-input timer, and the
 * fallback when a batch cannot be sent (an input that cannot be copied fails alone).
 *
 * @module
 */

import { CloneError, findUnsendable, unsendableReason } from "./errors.ts";
import type { Chunk } from "./map_run.ts";
import { ISOLATE, RUN, TRANSFER, type WireChunk } from "./protocol.ts";
import type { WorkerSlot } from "./worker_slot.ts";

/** Send `out` (chunks already in `slot.inflight`) to the slot's worker in one message. */
export function sendOutbox(slot: WorkerSlot, out: Chunk[], now: number): void {
  // Transfer lists first: a transfer function of yours that throws fails its own chunk's
  // inputs (with your error as cause), the others are sent.
  let lists: (Transferable[] | undefined)[] | undefined;
  if (out.some((c) => (c.run.flags & TRANSFER) !== 0)) {
    const kept: Chunk[] = [];
    lists = [];
    for (const c of out) {
      let list: Transferable[] | undefined;
      if (c.run.flags & TRANSFER) {
        list = [];
        try {
          c.run.transferOf(c.items, list);
        } catch (e) {
          slot.inflight = slot.inflight.filter((x) => x !== c);
          c.run.failChunk(c, slot.index, e instanceof Error ? e : new Error(String(e)));
          continue;
        }
      }
      kept.push(c);
      lists.push(list);
    }
    out = kept;
    if (out.length === 0) return;
  }
  const wire: WireChunk[] = new Array(out.length);
  let transfer: Transferable[] | undefined;
  for (let j = 0; j < out.length; j++) {
    const c = out[j]!;
    wire[j] = [c.id, c.isolate ? c.run.flags | ISOLATE : c.run.flags, c.items];
    const list = lists?.[j];
    if (list !== undefined && list.length > 0) {
      transfer ??= [];
      for (const b of list) if (!transfer.includes(b)) transfer.push(b);
    }
    if (c.run.timeoutMs > 0) {
      c.sentAt = now;
      slot.startTimer(now, c.run.timeoutMs * c.items.length);
    }
  }
  try {
    slot.endpoint!.post([RUN, wire], transfer);
  } catch {
    postOneByOne(slot, out, wire, lists);
  }
}

/**
 * A batch could not be sent (some input cannot be copied): send its chunks one by one; in a
 * chunk that still cannot be sent, the inputs that cannot fail alone with a CloneError naming
 * them, and the others are queued again. The worker is fine.
 */
function postOneByOne(
  slot: WorkerSlot,
  out: Chunk[],
  wire: WireChunk[],
  lists: (Transferable[] | undefined)[] | undefined,
): void {
  const endpoint = slot.endpoint!;
  const failed: [Chunk, unknown][] = [];
  for (let j = 0; j < out.length; j++) {
    const c = out[j]!;
    const transfer = lists?.[j];
    try {
      endpoint.post([RUN, [wire[j]]], transfer?.length ? transfer : undefined);
    } catch (e) {
      failed.push([c, e]);
    }
  }
  if (failed.length === 0) return;
  const bad = new Set(failed.map(([c]) => c));
  slot.inflight = slot.inflight.filter((c) => !bad.has(c));
  for (const [c, e] of failed) {
    const why = (item: unknown, index: number): Error | undefined => {
      const found = findUnsendable(item, endpoint.probe, "input");
      if (found === undefined) return undefined;
      return new CloneError(
        `send input #${index}`,
        found.path,
        `cannot be sent to worker ${slot.index}: ${unsendableReason(found.value, found.error)}`,
        found.value,
        { cause: found.error },
      );
    };
    const fallback = new CloneError(
      `send input #${c.start}`,
      "input",
      `cannot be sent to worker ${slot.index}: ${unsendableReason(undefined, e)}`,
      c.items,
      { cause: e },
    );
    c.run.rejectUnsendable(c, slot.index, why, fallback);
  }
}
