// Work shared by every side of bench/pool_compare.ts (spool, raw Deno workers, Node peers use
// a copy of the same loop in bench/node/work.mjs).

/** Spin `iters` rounds of integer arithmetic (calibrated to ~100 µs by the caller). */
export function spin(seed: number, iters: number): number {
  let x = seed | 0;
  for (let i = 0; i < iters; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  return x;
}

/** Touch a buffer and hand it back. */
export function touch(buf: ArrayBuffer): ArrayBuffer {
  new Uint8Array(buf)[0]! += 1;
  return buf;
}
