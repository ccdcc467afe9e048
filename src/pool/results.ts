/**
 * Where a map's results wait for the consumer: {@linkcode OrderedResults} releases them in input
 * order (the ordered window of `_internal/ordered_window.ts`), {@linkcode UnorderedResults} in
 * completion order (a FIFO ring). Both behind {@linkcode ResultStore}, so the map has no
 * `if (ordered)` forks.
 *
 * @module
 */

import { OrderedWindow } from "../_internal/ordered_window.ts";
import { Ring } from "../_internal/ring.ts";

/** Tag of a result: the worker's value. */
export const OK = 1;
/** Tag of a result: a failure (the value is a `TaskError`). */
export const FAILED = 2;
/** Tag of a result: an input that skipped the workers (`passThrough`), the value is the input. */
export const PASSED = 3;

/**
 * A map's waiting results. After `poll` returned true, `value`, `tag`, `index` and `input`
 * describe the result released (until the next `poll`).
 */
export interface ResultStore {
  /**
   * Store a chunk's results: `values[i]` is the result of input `start + i`; the positions
   * listed in `failures` (ascending, or 0 for none) are failures (their value a `TaskError`).
   * `inputs` are the chunk's inputs (kept when the store keeps inputs).
   */
  store(start: number, values: unknown[], failures: number[] | 0, inputs: unknown[]): void;
  /** Store one result of input `index` (tag {@linkcode OK}, {@linkcode FAILED} or {@linkcode PASSED}). */
  storeOne(index: number, value: unknown, tag: number, input: unknown): void;
  /**
   * Release the next result, if one can be released: an ordered store releases only the input
   * due, and only when its index is below `before` (the first failure of a draining map).
   */
  poll(before: number): boolean;
  /** Drop every result (the map ended). */
  clear(): void;
  /** The result released by the last successful `poll`. */
  value: unknown;
  /** Its tag. */
  tag: number;
  /** Its input index. */
  index: number;
  /** Its input (`undefined` when the store does not keep inputs). */
  input: unknown;
}

/** Results released in input order (a window of `capacity` inputs). */
export class OrderedResults implements ResultStore {
  readonly #values: OrderedWindow<unknown>;
  readonly #inputs: OrderedWindow<unknown> | undefined;
  value: unknown = undefined;
  tag = 0;
  index = -1;
  input: unknown = undefined;

  /**
   * @param capacity the map's window (`maxInFlight`)
   * @param keepInputs keep each input with its result (`errors: "collect"`)
   */
  constructor(capacity: number, keepInputs: boolean) {
    this.#values = new OrderedWindow(capacity);
    this.#inputs = keepInputs ? new OrderedWindow(capacity) : undefined;
  }

  store(start: number, values: unknown[], failures: number[] | 0, inputs: unknown[]): void {
    const window = this.#values;
    const n = values.length;
    if (failures === 0) {
      for (let i = 0; i < n; i++) window.put(start + i, values[i], OK);
    } else {
      let f = 0;
      for (let i = 0; i < n; i++) {
        if (failures[f] === i) {
          f++;
          window.put(start + i, values[i], FAILED);
        } else {
          window.put(start + i, values[i], OK);
        }
      }
    }
    const kept = this.#inputs;
    if (kept !== undefined) { for (let i = 0; i < n; i++) kept.put(start + i, inputs[i], OK); }
  }

  storeOne(index: number, value: unknown, tag: number, input: unknown): void {
    this.#values.put(index, value, tag);
    this.#inputs?.put(index, input, OK);
  }

  poll(before: number): boolean {
    const window = this.#values;
    const tag = window.headTag();
    if (tag === 0 || window.next >= before) return false;
    this.tag = tag;
    this.index = window.next;
    this.value = window.take();
    this.input = this.#inputs?.take();
    return true;
  }

  clear(): void {
    this.#values.clear();
    this.#inputs?.clear();
    this.value = this.input = undefined;
  }
}

/** Results released in completion order. */
export class UnorderedResults implements ResultStore {
  readonly #values = new Ring<unknown>(64);
  readonly #tags = new Ring<number>(64);
  readonly #indexes = new Ring<number>(64);
  readonly #inputs: Ring<unknown> | undefined;
  readonly #dropFailures: boolean;
  value: unknown = undefined;
  tag = 0;
  index = -1;
  input: unknown = undefined;

  /**
   * @param keepInputs keep each input with its result (`errors: "collect"`)
   * @param dropFailures do not keep failures (`errors: "throw-after-drain"`: the map raises the
   * first one once drained)
   */
  constructor(keepInputs: boolean, dropFailures: boolean) {
    this.#inputs = keepInputs ? new Ring<unknown>(64) : undefined;
    this.#dropFailures = dropFailures;
  }

  store(start: number, values: unknown[], failures: number[] | 0, inputs: unknown[]): void {
    let f = 0;
    for (let i = 0; i < values.length; i++) {
      if (failures !== 0 && failures[f] === i) {
        f++;
        if (this.#dropFailures) continue;
        this.storeOne(start + i, values[i], FAILED, inputs[i]);
      } else {
        this.storeOne(start + i, values[i], OK, inputs[i]);
      }
    }
  }

  storeOne(index: number, value: unknown, tag: number, input: unknown): void {
    this.#values.push(value);
    this.#tags.push(tag);
    this.#indexes.push(index);
    this.#inputs?.push(input);
  }

  poll(_before: number): boolean {
    if (this.#values.length === 0) return false;
    this.value = this.#values.shift();
    this.tag = this.#tags.shift();
    this.index = this.#indexes.shift();
    this.input = this.#inputs?.shift();
    return true;
  }

  clear(): void {
    this.#values.clear();
    this.#tags.clear();
    this.#indexes.clear();
    this.#inputs?.clear();
    this.value = this.input = undefined;
  }
}
