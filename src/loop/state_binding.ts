/**
 * The states bound to a loop (`state`, `bindFunctionState`, `bindObjectState`): their checks,
 * their restore from a loaded checkpoint, and their encoding into the next one.
 *
 * @module
 */

import { describe, InvalidArgumentError } from "../errors.ts";
import { isRecord, optionalString, optionsOf } from "../_internal/options.ts";
import type { ArraySink } from "../frame/values.ts";
import type { EncodedState } from "./checkpoint_file.ts";
import { LoopStateError } from "./errors.ts";
import { parameterInfo, type ParamInfo } from "./params.ts";
import {
  assertStateObject,
  encodeChecked,
  encodeStateObject,
  restoreInto,
  type StateEntry,
  type StoredState,
} from "./states.ts";

/** Options of {@linkcode StatefulLoop.bindFunctionState}. */
export interface BindFunctionOptions {
  /** Parameter name → the object passed for it (mutated in place by the function). */
  state: Record<string, object>;
  /** State name (default: the function's name). */
  name?: string;
}

/** Options of {@linkcode StatefulLoop.bindObjectState}. */
export interface BindObjectOptions<O> {
  /** The attributes of the object that are state (re-read at each checkpoint). */
  keys: readonly (keyof O & string)[];
  /** State name (default: the object's class name). */
  name?: string;
}

/** A function taking any arguments (what `bindFunctionState` returns). */
// deno-lint-ignore no-explicit-any
export type AnyFunction<R> = (...args: any[]) => R;

/**
 * The positions of `fn`'s parameters named by `keys` mapped to the state objects, or a
 * `LoopStateError` naming every bad key at once.
 */
function stateParameters(
  action: string,
  name: string,
  params: ParamInfo[],
  state: Record<string, object>,
  keys: string[],
): Map<number, object> {
  const at = new Map<number, object>();
  const notParams: string[] = [];
  const problems: string[] = [];
  for (const key of keys) {
    const idx = params.findIndex((p) => p.name === key);
    if (idx < 0) {
      notParams.push(key);
      continue;
    }
    if (params[idx]?.rest) {
      problems.push(`state key "${key}" is a rest parameter of ${name}`);
      continue;
    }
    try {
      at.set(idx, assertStateObject(action, `state "${name}" parameter "${key}"`, state[key]));
    } catch (error) {
      if (!(error instanceof LoopStateError)) throw error;
      problems.push(error.reason);
    }
  }
  if (notParams.length > 0) {
    const names = params.map((p) => p.name).filter((n): n is string => n !== undefined);
    const list = notParams.map((k) => `"${k}"`).join(", ");
    problems.unshift(
      `state key${notParams.length > 1 ? "s" : ""} ${list} ${
        notParams.length > 1 ? "are not parameters" : "is not a parameter"
      } of ${name}; its parameters are [${names.sort().join(", ")}]`,
    );
  }
  if (problems.length > 0) {
    throw new LoopStateError(action, problems.join("; "), { received: keys });
  }
  return at;
}

/** `fn` with the state objects of `at` passed at their positions, the other arguments in order. */
function withStateArguments<R>(
  fn: AnyFunction<R>,
  arity: number,
  at: Map<number, object>,
): AnyFunction<R> {
  return (...args: unknown[]): R => {
    const full: unknown[] = [];
    let a = 0;
    for (let i = 0; i < arity; i++) full.push(at.has(i) ? at.get(i) : args[a++]);
    while (a < args.length) full.push(args[a++]);
    return fn(...full);
  };
}

/**
 * The bound states of one loop and the states of its loaded checkpoint. `guard(action, name)`
 * is the loop's own check (open, iteration not started), run before the name checks.
 */
export class StateBindings {
  readonly #entries = new Map<string, StateEntry>();
  #restored = new Map<string, StoredState>();
  readonly #guard: (action: string, name: unknown) => void;

  /** @param guard throws when the loop cannot take a binding any more */
  constructor(guard: (action: string, name: unknown) => void) {
    this.#guard = guard;
  }

  /** Replace the states of the loaded checkpoint (at open). */
  restore(restored: Map<string, StoredState>): void {
    this.#restored = restored;
  }

  /** Names of the loaded states not bound (yet). */
  unbound(): string[] {
    return [...this.#restored.keys()].filter((n) => !this.#entries.has(n));
  }

  /** Every state encoded for a checkpoint: the bound ones, then the loaded ones not bound. */
  encode(arrays: ArraySink): Record<string, EncodedState> {
    const states: Record<string, EncodedState> = {};
    for (const [name, e] of this.#entries) states[name] = { kind: e.kind, value: e.encode(arrays) };
    for (const [name, s] of this.#restored) {
      if (!this.#entries.has(name)) {
        states[name] = { kind: s.kind, value: encodeChecked(s.value, arrays, `state "${name}"`) };
      }
    }
    return states;
  }

  #assertBindable(action: string, name: unknown): string {
    this.#guard(action, name);
    if (typeof name !== "string" || name === "") {
      throw new LoopStateError(action, "the state name must be a non-empty string", {
        received: name,
      });
    }
    if (this.#entries.has(name)) {
      throw new LoopStateError(
        action,
        "a state with this name is already bound; pass a distinct name",
        { received: name },
      );
    }
    return name;
  }

  #stored(action: string, name: string, kind: StoredState["kind"]): StoredState | undefined {
    const s = this.#restored.get(name);
    if (s && s.kind !== kind) {
      throw new LoopStateError(
        action,
        `the checkpoint holds "${name}" as a ${s.kind} state, not a ${kind} state`,
        { received: name },
      );
    }
    return s;
  }

  /** See {@linkcode StatefulLoop.state}. */
  state<S extends object>(name: string, initial: S): S {
    const action = "bind a loop state";
    this.#assertBindable(action, name);
    assertStateObject(action, `state "${name}"`, initial);
    const stored = this.#stored(action, name, "state");
    if (stored) restoreInto(initial, stored.value, `state "${name}"`);
    this.#entries.set(name, {
      kind: "state",
      name,
      encode: (arrays) => encodeStateObject(initial, arrays, `state "${name}"`),
    });
    return initial;
  }

  /** See {@linkcode StatefulLoop.bindFunctionState}. */
  bindFunction<R>(fn: AnyFunction<R>, options: BindFunctionOptions): AnyFunction<R> {
    const action = "bind function state";
    if (typeof fn !== "function") {
      throw new InvalidArgumentError(action, "fn must be a function", { received: fn });
    }
    const o = optionsOf(action, options, ["state", "name"]);
    if (!isRecord(o.state)) {
      throw new InvalidArgumentError(action, "options.state must be a record of objects", {
        received: options,
      });
    }
    const name = optionalString(action, "name", o.name) ?? fn.name;
    if (!name) {
      throw new LoopStateError(action, "the function has no name; pass options.name", {
        received: fn,
      });
    }
    this.#assertBindable(action, name);
    const params = parameterInfo(fn);
    if (params === undefined) {
      throw new LoopStateError(
        action,
        `cannot read the parameter names of ${describe(fn)} (native or bound function); ` +
          "bind a plain function or use loop.state()",
        { received: fn },
      );
    }
    const keys = Object.keys(options.state);
    const at = stateParameters(action, name, params, options.state, keys);
    const stored = this.#stored(action, name, "function");
    if (stored) {
      const saved = stored.value as Record<string, unknown>;
      for (const key of keys) {
        if (saved !== null && typeof saved === "object" && key in saved) {
          restoreInto(
            options.state[key] as object,
            saved[key],
            `state "${name}" parameter "${key}"`,
          );
        }
      }
    }
    const state = { ...options.state };
    this.#entries.set(name, {
      kind: "function",
      name,
      encode: (arrays) => {
        const out: Record<string, unknown> = {};
        for (const k of keys) {
          out[k] = encodeStateObject(
            state[k] as object,
            arrays,
            `state "${name}" parameter "${k}"`,
          );
        }
        return out;
      },
    });
    return withStateArguments(fn, params.length, at);
  }

  /** See {@linkcode StatefulLoop.bindObjectState}. */
  bindObject<O extends object>(obj: O, options: BindObjectOptions<O>): O {
    const action = "bind object state";
    if (obj === null || typeof obj !== "object") {
      throw new InvalidArgumentError(action, "obj must be an object", { received: obj });
    }
    const o = optionsOf(action, options, ["keys", "name"]);
    if (!Array.isArray(o.keys) || o.keys.length === 0) {
      throw new InvalidArgumentError(
        action,
        "options.keys must be a non-empty array of attribute names",
        { received: options },
      );
    }
    const ctorName = (obj as { constructor?: { name?: string } }).constructor?.name;
    const name = optionalString(action, "name", o.name) ??
      (ctorName && ctorName !== "Object" ? ctorName : undefined);
    if (!name) {
      throw new LoopStateError(action, "a plain object has no stable name; pass options.name", {
        received: obj,
      });
    }
    this.#assertBindable(action, name);
    const keys = [...options.keys];
    const missing = keys.filter((k) => typeof k !== "string" || !(k in obj));
    if (missing.length) {
      throw new LoopStateError(
        action,
        `${name} has no attribute ${missing.map((k) => `"${String(k)}"`).join(", ")}`,
        { received: missing },
      );
    }
    const encode = (arrays: ArraySink) => {
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        out[k] = encodeChecked((obj as Record<string, unknown>)[k], arrays, `state "${name}".${k}`);
      }
      return out;
    };
    encode(() => "");
    const stored = this.#stored(action, name, "object");
    if (stored && stored.value !== null && typeof stored.value === "object") {
      const saved = stored.value as Record<string, unknown>;
      for (const k of keys) if (k in saved) (obj as Record<string, unknown>)[k] = saved[k];
    }
    this.#entries.set(name, { kind: "object", name, encode });
    return obj;
  }
}
