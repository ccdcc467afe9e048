/**
 * Reply batching on the worker side: the replies of finished chunks go out together, one message
 * per batch (with the ArrayBuffers to transfer).
 *
 * @module
 */

import { CloneError, encodeError, findUnsendable, unsendableReason } from "./errors.ts";
import { collectTransferables, RUN, type WireReply } from "./protocol.ts";

/** What a batch needs of the worker's port to the pool. */
export interface ReplyPort {
  /** Send one message (with ArrayBuffers to transfer, threads only). */
  post(message: unknown, transfer?: Transferable[]): void;
  /** Throw when `value` cannot be sent (the transport's encoder, without sending). */
  probe(value: unknown): void;
}

/** Replies are flushed when the worker runs out of queued chunks, or after this long. */
const FLUSH_MS = 2;

/**
 * Reply batching: the replies of finished chunks wait here and go out in one message (with the
 * ArrayBuffers to transfer) when flushed. A batch that cannot be sent is sent chunk by chunk,
 * and in a chunk that still cannot be sent only the results that cannot fail.
 */
export class ReplyBatch {
  readonly #port: ReplyPort;
  #replies: WireReply[] = [];
  #transfer: Transferable[] = [];
  /** When the batch was last flushed by {@linkcode ReplyBatch.flushDue} (performance.now()). */
  #lastFlush = 0;
  /** The worker's index, for error messages (set at init). */
  workerIndex = -1;

  constructor(port: ReplyPort) {
    this.#port = port;
  }

  /** Add a finished chunk's reply; `transfer`: move the ArrayBuffers of its results. */
  add(reply: WireReply, transfer: boolean): void {
    this.#replies.push(reply);
    if (transfer) collectTransferables(reply[2], this.#transfer, 3);
  }

  /** Flush when `force`, or when the last flush is more than {@linkcode FLUSH_MS} old at `now`. */
  flushDue(force: boolean, now: number): void {
    if (force || now - this.#lastFlush > FLUSH_MS) {
      this.#lastFlush = now;
      this.flush();
    }
  }

  /** Send what is batched. */
  flush(): void {
    if (this.#replies.length === 0) return;
    const replies = this.#replies;
    const transfer = this.#transfer;
    this.#replies = [];
    this.#transfer = [];
    try {
      this.#port.post([RUN, replies], transfer.length ? transfer : undefined);
    } catch {
      this.#sendOneByOne(replies);
    }
  }

  /**
   * Some result cannot be sent: send chunk by chunk; in a chunk that still cannot be sent, only
   * the results that cannot are failed (the worker itself is fine).
   */
  #sendOneByOne(replies: readonly WireReply[]): void {
    const port = this.#port;
    for (const reply of replies) {
      try {
        port.post([RUN, [reply]]);
      } catch (e) {
        try {
          port.post([RUN, [this.#sendable(reply)]]);
        } catch {
          const n = reply[2].length;
          const err = encodeError(e);
          port.post([RUN, [[reply[0], reply[1], new Array(n).fill(err), [...Array(n).keys()]]]]);
        }
      }
    }
  }

  /** A reply that cannot be sent: fail the results that cannot, with a CloneError naming them. */
  #sendable(reply: WireReply): WireReply {
    const values = reply[2];
    const errs = new Set(reply[3] === 0 ? [] : reply[3]);
    for (let i = 0; i < values.length; i++) {
      if (errs.has(i)) continue;
      const bad = findUnsendable(values[i], this.#port.probe, "result");
      if (bad === undefined) continue;
      values[i] = encodeError(
        new CloneError(
          "send a result back to the pool",
          bad.path,
          `cannot be sent back from worker ${this.workerIndex}: ${
            unsendableReason(bad.value, bad.error)
          }`,
          bad.value,
          { cause: bad.error },
        ),
      );
      errs.add(i);
    }
    return [reply[0], reply[1], values, errs.size ? [...errs].sort((a, b) => a - b) : 0];
  }
}
