/**
 * The pool worker of the example JSON pipeline (examples/pipeline.json): a lookup table built
 * once per worker in `init`, then used for every item.
 *
 * @module
 */

import { defineWorker } from "../mod.ts";

export default defineWorker({
  init: (args: { size?: number } | undefined) => {
    const table = new Float64Array(args?.size ?? 1024);
    for (let i = 0; i < table.length; i++) table[i] = Math.sqrt(i);
    return { table };
  },
  process: (state, x: number) => state.table[x % state.table.length]!,
});
