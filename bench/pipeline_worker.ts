// Worker of bench/pipeline_compare.ts: ~`iters` rounds of integer arithmetic per item.
import { defineWorker } from "../src/pool/mod.ts";

export default defineWorker({
  init: (args: { iters: number }) => ({ iters: args.iters }),
  process: (state, seed: number) => {
    let x = seed | 0;
    for (let i = 0; i < state.iters; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
    return x;
  },
});
