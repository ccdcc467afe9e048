/**
 * The pipeline's checkpoint as one StateStore component: source positions, sink sequence
 * numbers and every node's captured state, written in one atomic `save`.
 *
 * @module
 */

import type { LoadContext, SaveContext } from "../state/context.ts";
import { dtypeOf } from "../state/dtype.ts";
import { type NumericArray } from "../_internal/typed_arrays.ts";
import type { PersistentState } from "../state/store.ts";
import { jsonRefusal, jsonRefusalReason } from "../state/json.ts";
import { CheckpointError } from "./errors.ts";

/** A queued message as a checkpoint saves it: `[0, value]` for an item, `[1]` for a hole. */
export type SavedMessage = [0, unknown] | [1];

/** What a node keeps at a barrier. */
export interface NodeSnapshot {
  /** Items (and holes) the node emitted so far. */
  outputs: number;
  /** Input slots (items and holes, zipped tuples) the node took so far. */
  read?: number;
  /** Dead letters the node produced so far (all runs). */
  dead?: number;
  /** The pending partial `consume` group. */
  group?: SavedMessage[];
  /** Items waiting to be zipped, per input. */
  pending?: SavedMessage[][];
  /** The stateful node's state (an in-memory copy). */
  state?: unknown;
  /** Whether `state` is present. */
  hasState?: boolean;
}

/** One complete checkpoint. */
export interface CheckpointData {
  /** Checkpoint number (increasing per store). */
  checkpoint: number;
  /** Items read from each source. */
  positions: Record<string, number>;
  /** Outputs delivered by each sink (its next sequence number). */
  sinks: Record<string, number>;
  /** Node snapshots. */
  nodes: Record<string, NodeSnapshot>;
  /** Whether every source was exhausted (the run had finished). */
  done: boolean;
}

type EncodedState =
  | { kind: "json"; value: unknown }
  | { kind: "array"; file: string }
  | { kind: "record"; json: Record<string, unknown>; arrays: Record<string, string> };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * Why `value` would not come back the same from JSON (`path` names where, e.g. `state.when`), or
 * `undefined` when it would: the state area's exact-JSON rule ({@linkcode jsonRefusal}), so a
 * pipeline checkpoint and a `jsonState` refuse the same values with the same words.
 */
export function jsonLoss(value: unknown, path: string): string | undefined {
  const r = jsonRefusal(value);
  return r === undefined ? undefined : jsonRefusalReason(r, path);
}

/**
 * Why a stateful node's state would not survive a checkpoint unchanged, or `undefined`: a typed
 * array, or a plain object whose top-level typed-array fields are stored as binary and the rest
 * as JSON, or a JSON value.
 */
export function stateLoss(state: unknown, path = "state"): string | undefined {
  // A whole state of `undefined` comes back as `undefined` (the field is simply absent).
  if (state === undefined || dtypeOf(state) !== undefined) return undefined;
  if (isPlainObject(state) && Object.values(state).some((v) => dtypeOf(v) !== undefined)) {
    for (const [k, v] of Object.entries(state)) {
      if (dtypeOf(v) !== undefined) continue;
      const loss = jsonLoss(v, `${path}.${k}`);
      if (loss !== undefined) return loss;
    }
    return undefined;
  }
  return jsonLoss(state, path);
}

/**
 * Throw {@linkcode CheckpointError} when a part of `data` written as JSON (a node's state apart
 * from its typed arrays, the items held in partial groups and zip queues) would not be restored
 * as it is: a checkpoint never changes the user's data silently.
 */
export function checkCheckpoint(data: CheckpointData): void {
  for (const [name, snap] of Object.entries(data.nodes)) {
    checkSlots(name, "group", snap.group);
    snap.pending?.forEach((q, i) => checkSlots(name, `pending[${i}]`, q));
    if (snap.hasState) {
      const loss = stateLoss(snap.state);
      if (loss !== undefined) {
        throw new CheckpointError(
          `save the checkpoint of node ${JSON.stringify(name)}`,
          `its state would not be restored as it is: ${loss}`,
          { received: snap.state },
        );
      }
    }
  }
}

function checkSlots(node: string, what: string, slots: SavedMessage[] | undefined): void {
  if (slots === undefined) return;
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    if (slot[0] !== 0) continue;
    const loss = jsonLoss(slot[1], `${what}[${i}]`);
    if (loss !== undefined) {
      throw new CheckpointError(
        `save the checkpoint of node ${JSON.stringify(node)}`,
        `an item held in the node (${loss}) would not be restored as it is`,
        { received: slot[1] },
      );
    }
  }
}

/** A StateStore component holding the pipeline checkpoint to write next / last loaded. */
export class CheckpointComponent implements PersistentState {
  /** Set before `save`. */
  current: CheckpointData | undefined;
  /** Filled by `load`. */
  loaded: CheckpointData | undefined;

  async saveState(_dir: string, ctx: SaveContext): Promise<void> {
    const data = this.current;
    if (data === undefined) throw new CheckpointError("save the checkpoint", "nothing to save");
    const nodes: Record<string, unknown> = {};
    let n = 0;
    const writes: Promise<void>[] = [];
    for (const [name, snap] of Object.entries(data.nodes)) {
      const entry: Record<string, unknown> = { outputs: snap.outputs };
      if (snap.read !== undefined) entry.read = snap.read;
      if (snap.dead) entry.dead = snap.dead;
      if (snap.group) entry.group = snap.group;
      if (snap.pending) entry.pending = snap.pending;
      if (snap.hasState) {
        const i = n++;
        const s = snap.state;
        let enc: EncodedState;
        if (dtypeOf(s) !== undefined) {
          enc = { kind: "array", file: `s${i}.bin` };
          writes.push(ctx.writeArray(enc.file, s as NumericArray));
        } else if (isPlainObject(s) && Object.values(s).some((v) => dtypeOf(v) !== undefined)) {
          const json: Record<string, unknown> = {};
          const arrays: Record<string, string> = {};
          let j = 0;
          for (const [k, v] of Object.entries(s)) {
            if (dtypeOf(v) !== undefined) {
              arrays[k] = `s${i}_${j++}.bin`;
              writes.push(ctx.writeArray(arrays[k]!, v as NumericArray));
            } else json[k] = v;
          }
          enc = { kind: "record", json, arrays };
        } else {
          enc = { kind: "json", value: s };
        }
        entry.state = enc;
      }
      nodes[name] = entry;
    }
    await Promise.all(writes);
    await ctx.writeJson("checkpoint.json", {
      version: 1,
      checkpoint: data.checkpoint,
      positions: data.positions,
      sinks: data.sinks,
      done: data.done,
      nodes,
    });
  }

  loadState(_dir: string, ctx: LoadContext): void {
    const raw = ctx.readJson<Record<string, unknown>>("checkpoint.json");
    if (raw?.version !== 1) {
      throw new CheckpointError("load the checkpoint", "unknown checkpoint version", {
        received: raw?.version,
      });
    }
    const nodes: Record<string, NodeSnapshot> = {};
    for (const [name, e] of Object.entries(raw.nodes as Record<string, Record<string, unknown>>)) {
      const snap: NodeSnapshot = { outputs: e.outputs as number };
      if (typeof e.read === "number") snap.read = e.read;
      if (typeof e.dead === "number") snap.dead = e.dead;
      if (e.group) snap.group = e.group as SavedMessage[];
      if (e.pending) snap.pending = e.pending as SavedMessage[][];
      const enc = e.state as EncodedState | undefined;
      if (enc) {
        snap.hasState = true;
        if (enc.kind === "array") snap.state = ctx.readArray(enc.file);
        else if (enc.kind === "record") {
          const obj: Record<string, unknown> = { ...enc.json };
          for (const [k, f] of Object.entries(enc.arrays)) obj[k] = ctx.readArray(f);
          snap.state = obj;
        } else snap.state = enc.value;
      }
      nodes[name] = snap;
    }
    this.loaded = {
      checkpoint: raw.checkpoint as number,
      positions: raw.positions as Record<string, number>,
      sinks: raw.sinks as Record<string, number>,
      done: raw.done as boolean,
      nodes,
    };
  }
}

/** Copy a state at a barrier so the run can go on mutating the live one. */
export function copyState(state: unknown): unknown {
  if (dtypeOf(state) !== undefined) return (state as NumericArray).slice();
  return structuredClone(state);
}

/**
 * Copies a node's state at barriers into reused buffers: copying typed arrays into buffers that
 * already exist (`set`) is about 10x faster than allocating fresh ones (`slice`), which matters
 * for large states checkpointed often. A buffer is reused once the checkpoint holding it is
 * committed (`release`).
 */
export class StateCopier {
  #free: NumericArray[] = [];

  #array(src: NumericArray, used: NumericArray[]): NumericArray {
    const i = this.#free.findIndex((b) =>
      b.constructor === src.constructor && b.length === src.length
    );
    let buf: NumericArray;
    if (i >= 0) {
      buf = this.#free[i]!;
      this.#free.splice(i, 1);
      (buf as Float64Array).set(src as Float64Array);
    } else buf = src.slice();
    used.push(buf);
    return buf;
  }

  /** Copy `state`; the reused buffers are appended to `used`. */
  copy(state: unknown, used: NumericArray[]): unknown {
    if (dtypeOf(state) !== undefined) return this.#array(state as NumericArray, used);
    if (isPlainObject(state) && Object.values(state).some((v) => dtypeOf(v) !== undefined)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(state)) {
        out[k] = dtypeOf(v) !== undefined
          ? this.#array(v as NumericArray, used)
          : structuredClone(v);
      }
      return out;
    }
    return structuredClone(state);
  }

  /** Give buffers back once their checkpoint is written (or abandoned). */
  release(buffers: NumericArray[]): void {
    for (const b of buffers) if (this.#free.length < 4) this.#free.push(b);
  }
}
