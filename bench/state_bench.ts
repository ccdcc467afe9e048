/**
 * Latency of small checkpoints (what a loop pays per save): `deno bench -A bench/state_bench.ts`.
 * Each iteration is one complete `StateStore.save()` (temp dir, fsyncs, manifest, rename) plus
 * retention keeping 2 snapshots.
 */

import {
  arrayState,
  jsonState,
  LatestStatesKeeper,
  recordState,
  StateStore,
} from "../src/state/mod.ts";

const root = await Deno.makeTempDir({ prefix: "spool-bench-state-small-" });
let n = 0;
function store(): StateStore {
  return new StateStore(`${root}/s${n++}`, { keeper: new LatestStatesKeeper(2) });
}

const small = store();
small.register("position", jsonState({ done: 123456, file: "part-0007.ndjson" }));
small.register("totals", jsonState({ count: 1, sum: 2.5, max: 9 }));
small.register("hist", arrayState(new Float64Array(1024)));

const wide = store();
const columns: Record<string, unknown> = { flushSeq: 3 };
for (let c = 0; c < 64; c++) columns[`c${c}`] = new Float64Array(1024);
wide.register("buffered", recordState(columns));

const fsyncBaseline = `${root}/raw.bin`;
const payload = new Uint8Array(8192);

Deno.bench(
  "baseline: write one 8 KiB file + fsync",
  { group: "small", baseline: true },
  async () => {
    const f = await Deno.open(fsyncBaseline, { write: true, create: true, truncate: true });
    await f.write(payload);
    await f.sync();
    f.close();
  },
);

Deno.bench("save: 2 JSON + one 8 KiB array (4 files)", { group: "small" }, async () => {
  await small.save();
});

Deno.bench("save: record of 64 x 8 KiB columns (67 files)", { group: "small" }, async () => {
  await wide.save();
});

globalThis.addEventListener("unload", () => {
  small.close();
  wide.close();
  Deno.removeSync(root, { recursive: true });
});
