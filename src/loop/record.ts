/**
 * The shape of a loop checkpoint record (`loop.json`), checked in full on load so a damaged or
 * foreign record is a {@linkcode LoopCheckpointError} naming every bad field, never a
 * `TypeError` or a silently wrong position.
 *
 * @module
 */

import { describe } from "../errors.ts";

const KINDS = new Set(["state", "function", "object"]);

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isName = (v: unknown) => typeof v === "string" && v !== "";

/** The problems found so far, and the check of one field that adds to them. */
class Problems {
  readonly list: string[] = [];

  /** Check `bag[name]` (at path `at`); `true` when it is present and `ok`. */
  check(
    bag: Record<string, unknown>,
    at: string,
    name: string,
    ok: (v: unknown) => boolean,
    must: string,
  ): boolean {
    const v = bag[name];
    const path = at ? `${at}.${name}` : name;
    if (v === undefined) this.list.push(`field "${path}" is missing`);
    else if (!ok(v)) this.list.push(`field "${path}" ${must}, found ${describe(v)}`);
    return v !== undefined && ok(v);
  }
}

function checkStates(out: Problems, states: Record<string, unknown>): void {
  for (const [name, s] of Object.entries(states)) {
    const at = `states.${name}`;
    if (!isObject(s)) {
      out.list.push(`field "${at}" must be an object, found ${describe(s)}`);
      continue;
    }
    out.check(
      s,
      at,
      "kind",
      (k) => KINDS.has(k as string),
      'must be "state", "function" or "object"',
    );
    if (!("value" in s)) out.list.push(`field "${at}.value" is missing`);
  }
}

function checkSite(out: Problems, r: unknown, i: number, names: Set<string>): void {
  const at = `sites[${i}]`;
  if (!isObject(r)) {
    out.list.push(`field "${at}" must be an object, found ${describe(r)}`);
    return;
  }
  if (out.check(r, at, "name", isName, "must be a non-empty string")) {
    if (names.has(r.name as string)) {
      out.list.push(`field "${at}.name" is a duplicate, found ${describe(r.name)}`);
    }
    names.add(r.name as string);
  }
  out.check(r, at, "adapter", isName, "must be a non-empty string");
  out.check(
    r,
    at,
    "bytes",
    (v) => typeof v === "number" && Number.isFinite(v) && v >= 0,
    "must be a number >= 0",
  );
  out.check(r, at, "seq", isCount, "must be an integer >= 0");
  const keysOk = r.keys === null ||
    out.check(
      r,
      at,
      "keys",
      (v) => Array.isArray(v) && v.every(isName) && new Set(v).size === v.length,
      "must be null or an array of distinct non-empty strings",
    );
  const countsOk = out.check(
    r,
    at,
    "counts",
    (v) => Array.isArray(v) && v.every((c) => c === 0 || c === 1),
    "must be an array of 0 and 1 (frames held per key)",
  );
  if (keysOk && countsOk) {
    const keys = (r.keys as string[] | null) ?? [];
    if ((r.counts as number[]).length !== keys.length) {
      out.list.push(
        `field "${at}.counts" must have one count per key (${keys.length}), found ` +
          describe(r.counts),
      );
    }
  }
}

/**
 * Every problem of a record's fields other than `format` and `version` (checked before), as
 * `field "sites[0].counts" is missing`.
 */
export function recordProblems(file: Record<string, unknown>): string[] {
  const out = new Problems();
  out.check(file, "", "position", isCount, "must be an integer >= 0");
  if (out.check(file, "", "states", isObject, "must be an object")) {
    checkStates(out, file.states as Record<string, unknown>);
  }
  if (out.check(file, "", "sites", Array.isArray, "must be an array")) {
    const names = new Set<string>();
    (file.sites as unknown[]).forEach((r, i) => checkSite(out, r, i, names));
  }
  return out.list;
}
