/**
 * Bound states of a loop: how each kind is encoded into a checkpoint and restored in place.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { columnKind } from "../frame/frame.ts";
import { type ArraySink, encodeValue } from "../frame/values.ts";
import { LoopStateError } from "./errors.ts";

/** The three ways of binding state. */
export type StateKind = "state" | "function" | "object";

/** A bound state: encodes its current value for a checkpoint. */
export interface StateEntry {
  /** How it was bound. */
  readonly kind: StateKind;
  /** Its name in the checkpoint. */
  readonly name: string;
  /** Current value, encoded (typed arrays go to `arrays`). */
  encode(arrays: ArraySink): unknown;
}

/** A state as stored in a checkpoint (already decoded). */
export interface StoredState {
  /** How it was bound when saved. */
  kind: StateKind;
  /** The decoded value. */
  value: unknown;
}

function isPlain(v: object): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/** Encode a top-level state object: class instances by their own enumerable properties. */
export function encodeStateObject(target: object, arrays: ArraySink, where: string): unknown {
  const simple = Array.isArray(target) || target instanceof Map || target instanceof Set ||
    ArrayBuffer.isView(target) || isPlain(target);
  return encodeChecked(simple ? target : { ...target }, arrays, where);
}

/** `encodeValue`, with its refusal turned into a {@linkcode LoopStateError}. */
export function encodeChecked(value: unknown, arrays: ArraySink, where: string): unknown {
  try {
    return encodeValue(value, arrays, where);
  } catch (error) {
    if (error instanceof InvalidArgumentError) {
      throw new LoopStateError("checkpoint a state", error.reason, {
        received: error.received,
        cause: error,
      });
    }
    throw error;
  }
}

/** Throw unless `value` is an object a state can live in (mutated in place). */
export function assertStateObject(action: string, where: string, value: unknown): object {
  if (value === null || typeof value !== "object") {
    throw new LoopStateError(
      action,
      `${where} must be an object mutated in place (wrap a number as { value: 0 })`,
      { received: value },
    );
  }
  encodeStateObject(value, () => "", where); // fail now, not at the first checkpoint
  return value;
}

/**
 * Copy a restored value into `target` in place, so every reference the caller holds sees it:
 * arrays, maps and sets are refilled, typed arrays overwritten (same kind and length), objects
 * get the stored properties assigned (properties added to the code since keep their initial
 * value).
 */
export function restoreInto(target: object, value: unknown, where: string): void {
  const action = "restore a state";
  const fail = (what: string) =>
    new LoopStateError(action, `${where} was saved as ${what} but is now a different shape`, {
      received: value,
    });
  if (Array.isArray(target)) {
    if (!Array.isArray(value)) throw fail("a non-array");
    target.length = 0;
    for (const v of value) target.push(v);
    return;
  }
  if (target instanceof Map) {
    if (!(value instanceof Map)) throw fail("a non-Map");
    target.clear();
    for (const [k, v] of value) target.set(k, v);
    return;
  }
  if (target instanceof Set) {
    if (!(value instanceof Set)) throw fail("a non-Set");
    target.clear();
    for (const v of value) target.add(v);
    return;
  }
  if (ArrayBuffer.isView(target)) {
    const t = target as Float64Array;
    const v = value as Float64Array;
    if (
      !ArrayBuffer.isView(value) || columnKind(value) !== columnKind(target) ||
      v.length !== t.length
    ) {
      throw fail(`${describeArray(value)}, not ${describeArray(target)}`);
    }
    t.set(v);
    return;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw fail("a non-object");
  }
  Object.assign(target, value);
}

function describeArray(v: unknown): string {
  return ArrayBuffer.isView(v)
    ? `${columnKind(v) ?? v.constructor.name}(${(v as Uint8Array).length})`
    : typeof v;
}
