// The worker module of bench/nats_compare.ts, for the remote workers (remote_worker_main.ts) and
// the local process pool alike. The input says what to do:
// - a number: a no-op (the number is the result);
// - [seed, iters]: a calibrated busy loop; the result is its duration in ms as the worker saw it
//   (the bench checks the calibration held at run time);
// - ["hold", path]: the first run writes `path` with its pid (createNew) and never returns, so
//   the bench can SIGKILL that process; a later run (the redelivery) returns at once.
import { defineWorker } from "../../src/pool/mod.ts";
import { spin } from "../pool_work.ts";

type Input = number | [number, number] | ["hold", string];

export default defineWorker({
  init: () => ({ sink: 0 }),
  process: async (state, x: Input): Promise<number> => {
    if (typeof x === "number") return x;
    if (x[0] === "hold") {
      try {
        await Deno.writeTextFile(x[1], String(Deno.pid), { createNew: true });
      } catch {
        return -1; // the redelivered run
      }
      return await new Promise<number>(() => {}); // held until SIGKILL (progress acks keep it)
    }
    const t0 = performance.now();
    state.sink ^= spin(x[0], x[1]);
    return performance.now() - t0;
  },
});
