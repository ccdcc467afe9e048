// spool vs py_stateful_map and mpire on the seed's stateful workload (2 workers).
//
//   python3 -m venv bench/.venv-pool && bench/.venv-pool/bin/pip install py_stateful_map mpire
//   npx -y deno@2.9.6 run -A bench/pool_python_compare.ts
//
// "heavy": the seed's 100 000 modular squarings per task (1000 tasks); "light": a trivial
// stateful task (100 000 tasks) where pool overhead dominates. Wall time includes pool start.

import { fileURLToPath } from "node:url";
import { WorkerPool } from "../src/pool/mod.ts";
import type Seed from "./pool_seed_worker.ts";

const HEAVY = 1000;
const LIGHT = 100_000;

async function spool(
  n: number,
  heavy: boolean,
  chunkSize: number | "auto",
): Promise<[number, number]> {
  const t0 = performance.now();
  await using pool = await WorkerPool.start<typeof Seed>({
    module: new URL("./pool_seed_worker.ts", import.meta.url),
    size: 2,
    init: { procId: 0, heavy, offset: 1 },
    perWorker: [{ procId: 0 }, { procId: 1 }],
  });
  let total = 0;
  for await (const r of pool.map(Array.from({ length: n }, (_, k) => k * 10), { chunkSize })) {
    total += r;
  }
  return [performance.now() - t0, total];
}

const py = fileURLToPath(new URL("./.venv-pool/bin/python", import.meta.url));
const out = await new Deno.Command(py, {
  args: [fileURLToPath(new URL("./pool_python.py", import.meta.url)), String(HEAVY), String(LIGHT)],
  stdout: "piped",
  stderr: "inherit",
}).output();
const peers = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
const rows: string[] = [];
for (const [workload, n, heavy] of [["heavy", HEAVY, true], ["light", LIGHT, false]] as const) {
  const [ms, total] = await spool(n, heavy, 1);
  const [msAuto] = await spool(n, heavy, "auto");
  const best = Math.min(ms, msAuto);
  for (const p of peers.filter((p) => p.workload === workload)) {
    rows.push(
      `| ${workload} (${n} tasks) | ${p.lib} | ${p.ms.toFixed(0)} ms | spool ${
        ms.toFixed(0)
      } ms (auto chunks ${msAuto.toFixed(0)} ms) | ${(p.ms / best).toFixed(1)}x | ${
        p.total === total ? "same total" : `TOTAL DIFFERS ${p.total} vs ${total}`
      } |`,
    );
  }
}
console.log("| workload | peer | peer time | spool time | spool speed-up | check |");
console.log("|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
