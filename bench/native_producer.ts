// Producer module of bench/native_compare.ts for workerPrefetch: `count` messages of `size`
// bytes. With `reuse`, one buffer is refilled for every message: allowed with the ring transport
// (each item is copied into the queue before the next one is requested), not with postMessage
// (a transferred buffer is detached).
export default function* (
  { count, size, reuse = false }: { count: number; size: number; reuse?: boolean },
) {
  const shared = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    const m = reuse ? shared : new Uint8Array(size);
    m[0] = i & 0xff;
    yield m;
  }
}
