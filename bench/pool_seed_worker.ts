// The seed's SimpleArithmeticClassWorker as a spool worker (stateful: procId), with a light mode.
import { defineWorker, type WorkerContext } from "../src/pool/mod.ts";

export default defineWorker({
  init: (args: { procId: number; heavy: boolean; offset: number }, _ctx: WorkerContext) => args,
  process: (s: { procId: number; heavy: boolean; offset: number }, x: number): number => {
    if (!s.heavy) return x + s.offset;
    let r = x;
    for (let t = 0; t < 100_000; t++) r = (r * r) % 337;
    return r;
  },
});
