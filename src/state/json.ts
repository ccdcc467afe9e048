/**
 * The JSON codec's guard: finds the first value that `JSON.stringify` would change or drop, so a
 * state is never saved differently from what the user holds.
 *
 * Refused (with the path inside the value, e.g. `totals.byHour[3] is NaN`): `NaN` and
 * `±Infinity` (JSON writes `null`), `undefined` or a hole inside an array (`null`), a top-level
 * `undefined`, functions and symbols (dropped), bigint (`JSON.stringify` throws), symbol keys
 * (dropped), cycles, and every object that is not a plain object or an array: `Date` (becomes a
 * string), `Map`/`Set` (`{}`), typed arrays (`{"0":...}`), boxed primitives, class instances
 * (their prototype is lost).
 *
 * Accepted as documented: `-0` (saved as `0`; they are `===`) and an object property whose value
 * is `undefined` (omitted; reading it still gives `undefined`).
 *
 * One walk over the value, then one `JSON.stringify`: no second serialization.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";

const IDENT = /^[A-Za-z_$][\w$]*$/;

function key(path: string, k: string): string {
  return IDENT.test(k) ? (path ? `${path}.${k}` : k) : `${path}[${JSON.stringify(k)}]`;
}

function what(v: unknown): string | undefined {
  switch (typeof v) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(v) ? undefined : String(v);
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    case "bigint":
      return "a bigint";
    case "undefined":
      return "undefined";
  }
  return undefined;
}

/** A value JSON cannot keep: where it is, what it is, and the value itself. */
export interface JsonRefusal {
  /** The path inside the value (`""` for the value itself). */
  path: string;
  /** What it is: `"NaN"`, `"a function"`, `"a Date"`, `"a cycle"`, ... */
  what: string;
  /** The offending value. */
  value: unknown;
}

/** The first part of `value` that JSON would change or drop, or `undefined` when it is exact. */
export function jsonRefusal(value: unknown): JsonRefusal | undefined {
  const top = what(value);
  if (top !== undefined) return { path: "", what: top, value };
  if (value === null || typeof value !== "object") return undefined;
  return walk(value, "", []);
}

function walk(obj: object, path: string, stack: object[]): JsonRefusal | undefined {
  if (stack.includes(obj)) return { path, what: "a cycle", value: obj };
  if (Array.isArray(obj)) {
    if (Object.getPrototypeOf(obj) !== Array.prototype) {
      return {
        path,
        what: `an instance of ${obj.constructor?.name ?? "an Array subclass"}`,
        value: obj,
      };
    }
    stack.push(obj);
    for (let i = 0; i < obj.length; i++) {
      const v: unknown = obj[i];
      if (typeof v === "object") {
        if (v === null) continue;
        const r = walk(v, `${path}[${i}]`, stack);
        if (r) return r;
        continue;
      }
      const w = what(v);
      if (w !== undefined) {
        const hole = v === undefined && !(i in obj);
        return {
          path: `${path}[${i}]`,
          what: hole
            ? "a hole in a sparse array (JSON writes null)"
            : w === "undefined"
            ? "undefined inside an array (JSON writes null)"
            : w,
          value: v,
        };
      }
    }
    stack.pop();
    return undefined;
  }
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) {
    const name = (obj as { constructor?: { name?: string } }).constructor?.name;
    const article = name && /^[AEIOU]/.test(name) ? "an" : "a";
    return {
      path,
      what: obj instanceof Date || obj instanceof Map || obj instanceof Set ||
          ArrayBuffer.isView(obj) || obj instanceof Number || obj instanceof String ||
          obj instanceof Boolean
        ? `${article} ${name}`
        : `an instance of class ${name || "(anonymous)"}`,
      value: obj,
    };
  }
  if (Object.getOwnPropertySymbols(obj).length > 0) {
    return { path, what: "an object with a symbol key (JSON drops it)", value: obj };
  }
  stack.push(obj);
  for (const k in obj) {
    if (!Object.hasOwn(obj, k)) continue;
    const v: unknown = (obj as Record<string, unknown>)[k];
    if (typeof v === "object") {
      if (v === null) continue;
      const r = walk(v, key(path, k), stack);
      if (r) return r;
      continue;
    }
    if (v === undefined) continue; // omitted by JSON; reading it still gives undefined
    const w = what(v);
    if (w !== undefined) return { path: key(path, k), what: w, value: v };
  }
  stack.pop();
  return undefined;
}

/** The reason text of a refusal: `totals.byHour[3] is NaN (...)`. */
export function jsonRefusalReason(r: JsonRefusal, root = ""): string {
  const where = root
    ? (r.path ? (r.path.startsWith("[") ? root + r.path : `${root}.${r.path}`) : root)
    : r.path || "the value";
  return `${where} is ${r.what}; JSON cannot keep it (a JSON state holds null, booleans, ` +
    "finite numbers, strings, arrays and plain objects)";
}

/**
 * Throw {@linkcode InvalidArgumentError} naming the path when `value` is not exactly
 * representable as JSON; return its JSON text otherwise.
 *
 * @param action what was attempted ("write a JSON state file")
 * @param value the value to encode
 * @param root the name of the value in the message (`"meta"`), or `""`
 */
export function toExactJson(action: string, value: unknown, root = ""): string {
  const r = jsonRefusal(value);
  if (r) throw new InvalidArgumentError(action, jsonRefusalReason(r, root), r.value);
  return JSON.stringify(value);
}
