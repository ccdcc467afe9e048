// Producer module for workerPrefetch tests: yields `n` messages of `size` bytes (index in the
// first two bytes), throws at `failAt`, yields a number (not bytes) at `badAt`.
export default async function* (
  { n, size = 16, failAt = -1, badAt = -1 }: {
    n: number;
    size?: number;
    failAt?: number;
    badAt?: number;
  },
) {
  for (let i = 0; i < n; i++) {
    if (i === failAt) throw new Error(`boom at ${i}`);
    if (i === badAt) yield i as unknown as Uint8Array;
    const m = new Uint8Array(size);
    m[0] = i & 0xff;
    m[1] = (i >> 8) & 0xff;
    yield m;
    if (i % 64 === 63) await Promise.resolve();
  }
}
