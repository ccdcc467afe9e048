// Worker file for piscina and tinypool: mode and iterations come from the environment.
import { spin, touch } from "./work.mjs";

const mode = process.env.POOL_BENCH_MODE ?? "noop";
const iters = Number(process.env.POOL_BENCH_ITERS ?? "0");

export default function task(x) {
  if (mode === "noop") return x;
  if (mode === "cpu") return spin(x, iters);
  return touch(x);
}
