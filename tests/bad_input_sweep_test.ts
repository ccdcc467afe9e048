/**
 * The bad-input sweep (issue 9): every export of mod.ts has a row of bad inputs (wrong types,
 * out-of-range numbers, NaN, empty strings, unknown option keys, missing and unwritable paths,
 * broken sources). Each case must fail with a typed `SpoolError` whose message reads
 * `Cannot <action>: <reason>, received <value>` (or with the user's own error, unchanged or as
 * `cause`), within a generous time limit; a case that resolves is a silent acceptance and fails.
 *
 * The rows live in tests/sweep/*_rows.ts; the machinery in tests/sweep/harness.ts. A new export
 * fails the first test until it has a row. One area only:
 * `deno test -A --sanitize-ops --sanitize-resources --filter "/^sweep frame./" tests/bad_input_sweep_test.ts`.
 *
 * @module
 */

import * as spool from "../mod.ts";
import { type Row, runCase } from "./sweep/harness.ts";
import { streamRows } from "./sweep/stream_rows.ts";
import { stateRows } from "./sweep/state_rows.ts";
import { frameRows } from "./sweep/frame_rows.ts";
import { loopRows } from "./sweep/loop_rows.ts";
import { poolRows } from "./sweep/pool_rows.ts";
import { nativeRows } from "./sweep/native_rows.ts";
import { pipelineRows } from "./sweep/pipeline_rows.ts";
import { errorRows } from "./sweep/error_rows.ts";
import { natsRows } from "./sweep/nats_rows.ts";
import { natsPoolRows } from "./sweep/nats_pool_rows.ts";

const rows: Row[] = [
  ...streamRows,
  ...stateRows,
  ...frameRows,
  ...loopRows,
  ...poolRows,
  ...nativeRows,
  ...pipelineRows,
  ...natsRows,
  ...natsPoolRows,
  ...errorRows,
];

Deno.test("sweep: every export of mod.ts has a row (a new export cannot escape the sweep)", () => {
  const exports = Object.keys(spool).sort();
  const named = new Map<string, number>();
  for (const row of rows) named.set(row.export, (named.get(row.export) ?? 0) + 1);
  const missing = exports.filter((name) => !named.has(name));
  const stale = [...named.keys()].filter((name) => !exports.includes(name));
  const twice = [...named].filter(([, n]) => n > 1).map(([name]) => name);
  const empty = rows.filter((row) => row.cases.length === 0).map((row) => row.export);
  const problems = [
    missing.length ? `exports without a row: ${missing.join(", ")}` : "",
    stale.length ? `rows for names mod.ts does not export: ${stale.join(", ")}` : "",
    twice.length ? `exports with more than one row: ${twice.join(", ")}` : "",
    empty.length ? `rows without a case: ${empty.join(", ")}` : "",
  ].filter(Boolean);
  if (problems.length) throw new Error(problems.join("\n"));
});

Deno.test("sweep: case names are unique per export", () => {
  const dupes: string[] = [];
  for (const row of rows) {
    const seen = new Set<string>();
    for (const c of row.cases) {
      if (seen.has(c.name)) dupes.push(`${row.export}: ${c.name}`);
      seen.add(c.name);
    }
  }
  if (dupes.length) throw new Error(`duplicate case names:\n${dupes.join("\n")}`);
});

for (const row of rows) {
  for (const c of row.cases) {
    const name = `sweep ${row.area}/${row.export}: ${c.name}`;
    Deno.test(name, () => runCase(name, c));
  }
}
