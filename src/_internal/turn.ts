/**
 * Cooperative yielding: long-running loops give timers, signal handlers and I/O callbacks a turn
 * of the event loop at least every {@linkcode TURN_SLICE_MS} of continuous work.
 *
 * A loop that only awaits already-resolved promises (a synchronous or in-memory source, function
 * nodes that return at once) runs on the microtask queue and never lets a macrotask run: a
 * `setInterval` never fires, `AbortSignal.timeout` never aborts, `Deno.addSignalListener`
 * handlers never run. Every such loop calls {@linkcode turnDue} once per item and, when it says
 * so, awaits {@linkcode giveTurn}:
 *
 * ```ts ignore
 * for (;;) {
 *   // ... one item of work ...
 *   if (turnDue()) await giveTurn();
 * }
 * ```
 *
 * `turnDue()` costs a decrement on most calls: it reads the clock only every `stride` calls, and
 * the stride adapts so that a stride of calls takes well under a millisecond (fast items read the
 * clock rarely, slow items every time). `giveTurn()` resolves through `setImmediate`, which runs
 * after the event loop has polled timers and I/O (about 1 µs when nothing is waiting, against
 * 1-4 ms for `setTimeout(0)`).
 *
 * The clock is per thread (module state), shared by every loop on it: when one loop gives a turn,
 * the others' budgets restart too, which is right since the event loop turned for all of them.
 *
 * A `next()` that has already taken its item uses {@linkcode afterTurn} to delay only the
 * settlement (what the call does synchronously stays the same, and a later call cannot overtake
 * it). While the thread's own I/O is in flight beside its loops (a pipeline checkpoint being
 * written), {@linkcode promptTurns} makes turns come every {@linkcode PROMPT_STRIDE} calls, so
 * that I/O completes in about its own time.
 *
 * A loop must make progress between turns: check after an item, or before pulling the next one,
 * never in a way that re-checks before any work (a due turn can be due again at once).
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** Longest stretch of continuous work, in milliseconds, before a turn is due. */
export const TURN_SLICE_MS = 10;

/**
 * While this thread waits on I/O of its own (see {@linkcode promptTurns}), a turn is due after
 * at most this many `turnDue()` calls (or at the next clock read, whichever comes first): each
 * awaited file operation of a checkpoint needs a turn to complete, so turns come this often.
 */
export const PROMPT_STRIDE = 64;

/**
 * Most calls between two clock reads. The stride grows while calls are cheap; when they suddenly
 * become expensive (a loop of sub-microsecond items followed by one of 50 µs chunks) up to this
 * many calls pass before the clock is read again, so it bounds that one late turn (256 x 50 µs
 * = 13 ms). A clock read costs ~40 ns: under 0.2 ns per call at this stride.
 */
const MAX_STRIDE = 256;

let turnStart = Date.now();
let lastRead = turnStart;
let stride = 1;
let countdown = 1;
let prompt = 0;

/**
 * True when this thread has worked for {@linkcode TURN_SLICE_MS} without giving the event loop a
 * turn: the caller should `await giveTurn()` before its next item.
 */
export function turnDue(): boolean {
  // The common case is this one decrement: kept tiny so that it inlines into the caller's loop.
  return --countdown <= 0 && readClock();
}

/** Every `stride` calls: read the clock, adapt the stride, say whether the slice is over. */
function readClock(): boolean {
  const now = Date.now();
  const elapsed = now - lastRead;
  lastRead = now;
  if (elapsed === 0) {
    if (stride < MAX_STRIDE) stride *= 2;
  } else if (elapsed > 1) {
    // Calls got slower: shrink the stride in proportion, to about 1 ms of calls per read.
    stride = stride > elapsed ? Math.floor(stride / elapsed) : 1;
  }
  if (prompt > 0) {
    countdown = stride > PROMPT_STRIDE ? PROMPT_STRIDE : stride;
    return true;
  }
  countdown = stride;
  return now - turnStart >= TURN_SLICE_MS;
}

function restart(resolve: () => void): void {
  turnStart = lastRead = Date.now();
  resolve();
}

/**
 * Resolve after one turn of the event loop (timers, signals and I/O callbacks that were ready
 * have run), and restart the work budget.
 */
export function giveTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(restart, resolve));
}

/** Restart the work budget without yielding (after an await that is known to be a macrotask). */
export function turnTaken(): void {
  turnStart = lastRead = Date.now();
}

/**
 * Run `work` (asynchronous I/O that this thread's loops keep running beside, such as writing a
 * checkpoint while the items keep flowing) with prompt turns: a turn every
 * {@linkcode PROMPT_STRIDE} calls of `turnDue()` or at every clock read, instead of every
 * {@linkcode TURN_SLICE_MS}. Each file operation (write, fsync, rename) completes in a turn of
 * the event loop, so a save of a few dozen operations would take a few dozen slices (hundreds of
 * milliseconds) without this; with it, it takes about its own I/O time. The cost: a turn (about
 * 1 µs) per 64 items of a loop while the work is in flight, nothing once it is done.
 */
export async function promptTurns<T>(work: () => Promise<T>): Promise<T> {
  prompt++;
  if (countdown > PROMPT_STRIDE) countdown = PROMPT_STRIDE;
  try {
    return await work();
  } finally {
    prompt--;
  }
}

/**
 * `value`, after one turn of the event loop: for a `next()` that has already taken its item (so
 * that a later call cannot overtake it) and delays only the settlement when a turn is due.
 *
 * ```ts ignore
 * const result = { done: false, value };
 * return turnDue() ? afterTurn(result) : Promise.resolve(result);
 * ```
 */
export function afterTurn<T>(value: T): Promise<T> {
  return giveTurn().then(() => value);
}
