// spool worker for bench/pool_compare.ts: one definition, mode chosen by init args.
import { defineWorker } from "../src/pool/mod.ts";
import { spin, touch } from "./pool_work.ts";

export default defineWorker({
  init: (args: { mode: "noop" | "cpu" | "buf"; iters: number }) => args,
  process: (s, x: unknown): unknown =>
    s.mode === "noop" ? x : s.mode === "cpu" ? spin(x as number, s.iters) : touch(x as ArrayBuffer),
});
