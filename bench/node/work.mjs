// Same work as bench/pool_work.ts, for the Node peers.
export function spin(seed, iters) {
  let x = seed | 0;
  for (let i = 0; i < iters; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  return x;
}
export function touch(buf) {
  new Uint8Array(buf)[0] += 1;
  return buf;
}
