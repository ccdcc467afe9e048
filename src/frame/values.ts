/**
 * A JSON codec for the values a checkpoint holds: JSON values plus typed arrays (stored aside as
 * raw binary files), bigint, non-finite numbers, `undefined`, `Date`, `Map` and `Set`. Anything
 * else (class instances, functions, symbols, cycles) is refused with a clear error, never
 * silently dropped.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { columnKind, type NumericColumn } from "./frame.ts";

const TAG = "$spool";

/** Called for each typed array met while encoding; returns the file name it was stored under. */
export type ArraySink = (array: NumericColumn) => string;
/** Returns the typed array stored under a file name. */
export type ArraySource = (file: string) => NumericColumn;

/** Encode `value` into a JSON-serializable form; typed arrays go to `arrays`. */
export function encodeValue(value: unknown, arrays: ArraySink, where = "value"): unknown {
  return enc(value, arrays, where, new Set());
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function enc(v: unknown, arrays: ArraySink, path: string, stack: Set<object>): unknown {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      return Number.isFinite(v) && !Object.is(v, -0)
        ? v
        : { [TAG]: "num", v: Object.is(v, -0) ? "-0" : String(v) };
    case "undefined":
      return { [TAG]: "undef" };
    case "bigint":
      return { [TAG]: "bigint", v: v.toString() };
    case "function":
    case "symbol":
      throw refuse(path, v);
  }
  if (v === null) return null;
  const obj = v as object;
  if (ArrayBuffer.isView(obj)) {
    const kind = columnKind(obj);
    if (kind === undefined || kind === "plain") throw refuse(path, v);
    return { [TAG]: "array", file: arrays(obj as NumericColumn) };
  }
  if (stack.has(obj)) {
    throw new InvalidArgumentError("checkpoint a value", `${path} is a cycle`, { received: v });
  }
  stack.add(obj);
  try {
    if (Array.isArray(obj)) {
      const out = new Array(obj.length);
      for (let i = 0; i < obj.length; i++) out[i] = enc(obj[i], arrays, `${path}[${i}]`, stack);
      return out;
    }
    if (obj instanceof Date) return { [TAG]: "date", v: obj.getTime() };
    if (obj instanceof Map) {
      const out: unknown[] = [];
      let i = 0;
      for (const [k, x] of obj) {
        out.push([
          enc(k, arrays, `${path}.key${i}`, stack),
          enc(x, arrays, `${path}.get(${i})`, stack),
        ]);
        i++;
      }
      return { [TAG]: "map", v: out };
    }
    if (obj instanceof Set) {
      const out: unknown[] = [];
      let i = 0;
      for (const x of obj) out.push(enc(x, arrays, `${path}.item${i++}`, stack));
      return { [TAG]: "set", v: out };
    }
    if (!isPlainObject(obj)) throw refuse(path, v);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(obj)) {
      out[k] = enc((obj as Record<string, unknown>)[k], arrays, `${path}.${k}`, stack);
    }
    return TAG in out ? { [TAG]: "obj", v: out } : out;
  } finally {
    stack.delete(obj);
  }
}

function refuse(path: string, v: unknown): InvalidArgumentError {
  return new InvalidArgumentError(
    "checkpoint a value",
    `${path} cannot be saved (supported: JSON values, typed arrays, bigint, Date, Map, Set, ` +
      `undefined, plain objects and arrays of those)`,
    { received: v },
  );
}

/** Decode a value produced by {@linkcode encodeValue}. */
export function decodeValue(json: unknown, arrays: ArraySource): unknown {
  if (json === null || typeof json !== "object") return json;
  if (Array.isArray(json)) return json.map((x) => decodeValue(x, arrays));
  const o = json as Record<string, unknown>;
  const tag = o[TAG];
  if (typeof tag === "string") {
    // A tagged value whose payload has the wrong shape (a file edited by hand, another writer)
    // is refused by name; the reader's own errors (from `arrays`) pass through unchanged.
    const malformed = () =>
      new InvalidArgumentError("load a checkpointed value", `malformed "${tag}" value`, {
        received: o,
      });
    const v = o.v;
    switch (tag) {
      case "num":
        if (v !== "NaN" && v !== "Infinity" && v !== "-Infinity" && v !== "-0") throw malformed();
        return Number(v);
      case "undef":
        return undefined;
      case "bigint":
        if (typeof v !== "string" || !/^-?\d+$/.test(v)) throw malformed();
        return BigInt(v);
      case "array":
        if (typeof o.file !== "string" || o.file === "") throw malformed();
        return arrays(o.file);
      case "date":
        if (typeof v !== "number") throw malformed();
        return new Date(v);
      case "map":
        if (!Array.isArray(v) || !v.every((e) => Array.isArray(e) && e.length === 2)) {
          throw malformed();
        }
        return new Map(
          (v as [unknown, unknown][]).map((
            [k, x],
          ) => [decodeValue(k, arrays), decodeValue(x, arrays)]),
        );
      case "set":
        if (!Array.isArray(v)) throw malformed();
        return new Set(v.map((x) => decodeValue(x, arrays)));
      case "obj":
        if (v === null || typeof v !== "object" || Array.isArray(v)) throw malformed();
        return decodePlain(v as Record<string, unknown>, arrays);
    }
  }
  return decodePlain(o, arrays);
}

function decodePlain(o: Record<string, unknown>, arrays: ArraySource): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = decodeValue(o[k], arrays);
  return out;
}
