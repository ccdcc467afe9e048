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
  const found = walk(value, []);
  if (found === undefined) return undefined;
  // The path is built only for a refusal (segments were collected innermost first).
  let path = "";
  for (let i = found.segments.length - 1; i >= 0; i--) {
    const seg = found.segments[i]!;
    path = typeof seg === "number" ? `${path}[${seg}]` : key(path, seg);
  }
  return { path, what: found.what, value: found.value };
}

interface Found {
  segments: (string | number)[];
  what: string;
  value: unknown;
}

function found(what: string, value: unknown): Found {
  return { segments: [], what, value };
}

function walk(obj: object, stack: object[]): Found | undefined {
  for (let i = 0; i < stack.length; i++) if (stack[i] === obj) return found("a cycle", obj);
  if (Array.isArray(obj)) {
    if (Object.getPrototypeOf(obj) !== Array.prototype) {
      return found(`an instance of ${obj.constructor?.name ?? "an Array subclass"}`, obj);
    }
    stack.push(obj);
    for (let i = 0; i < obj.length; i++) {
      const v: unknown = obj[i];
      let r: Found | undefined;
      if (typeof v === "object") {
        if (v === null) continue;
        r = walk(v, stack);
      } else {
        const w = what(v);
        if (w === undefined) continue;
        r = found(
          v !== undefined
            ? w
            : i in obj
            ? "undefined inside an array (JSON writes null)"
            : "a hole in a sparse array (JSON writes null)",
          v,
        );
      }
      if (r) {
        r.segments.push(i);
        return r;
      }
    }
    stack.pop();
    return undefined;
  }
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) {
    const name = (obj as { constructor?: { name?: string } }).constructor?.name;
    const article = name && /^[AEIOU]/.test(name) ? "an" : "a";
    return found(
      obj instanceof Date || obj instanceof Map || obj instanceof Set ||
        ArrayBuffer.isView(obj) || obj instanceof Number || obj instanceof String ||
        obj instanceof Boolean
        ? `${article} ${name}`
        : `an instance of class ${name || "(anonymous)"}`,
      obj,
    );
  }
  if (Object.getOwnPropertySymbols(obj).length > 0) {
    return found("an object with a symbol key (JSON drops it)", obj);
  }
  stack.push(obj);
  for (const k in obj) {
    const v: unknown = (obj as Record<string, unknown>)[k];
    let r: Found | undefined;
    if (typeof v === "object") {
      if (v === null) continue;
      r = walk(v, stack);
    } else {
      if (v === undefined) continue; // omitted by JSON; reading it still gives undefined
      const w = what(v);
      if (w === undefined) continue;
      r = found(w, v);
    }
    if (r) {
      r.segments.push(k);
      return r;
    }
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
  if (r) throw new InvalidArgumentError(action, jsonRefusalReason(r, root), { received: r.value });
  return JSON.stringify(value);
}
