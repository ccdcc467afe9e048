// Cost of bodies over max_payload (src/pool/nats/large_payload.ts): items/s of a NatsPool map over
// 2 remote worker processes (loopback), chunkSize 1 unless said, for inputs that travel inline and inputs that
// go through the pool's object store bucket. Run:
//   SPOOL_NATS_SERVER=/tmp/natsbin/nats-server deno run -A bench/nats_large_payload.ts
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import { startServer, startWorker } from "../tests/nats_pool_helpers.ts";
import type { LargeInput } from "../tests/fixtures/nats_pool_large_worker.ts";

const MODULE = new URL("../tests/fixtures/nats_pool_large_worker.ts", import.meta.url).href;
const KIB = 1024;

function inputsOf(n: number, size: number, out: number): LargeInput[] {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
  }
  return Array.from({ length: n }, (_, id) => ({ id, bytes, out }));
}

async function run(
  label: string,
  maxPayload: number,
  size: number,
  out: number,
  n: number,
  chunkSize = 1,
) {
  await using server = await startServer({ maxPayload });
  await using pool = await NatsPool.start({ servers: server.url, pool: "bench", size: 4 });
  const workers = [];
  for (let i = 0; i < 2; i++) {
    workers.push(
      await startWorker(server.url, "bench", {
        index: i,
        concurrency: 2,
        args: {},
        options: { module: MODULE },
      }),
    );
  }
  try {
    for await (const _ of pool.map(inputsOf(Math.ceil(n / 5), size, out))) { /* warm-up */ }
    const inputs = inputsOf(n, size, out);
    const t0 = performance.now();
    let count = 0;
    for await (const _ of pool.map(inputs, { chunkSize })) count++;
    const s = (performance.now() - t0) / 1000;
    const mb = (count * (size + out)) / s / 1e6;
    console.log(
      `${label.padEnd(58)} ${(count / s).toFixed(0).padStart(6)} items/s  ${
        mb.toFixed(0).padStart(4)
      } MB/s`,
    );
  } finally {
    for (const w of workers) await w.stop();
  }
}

const N = Number(Deno.args[0] ?? 300);
await run("30 KiB in, 10 B out, max_payload 64 KiB (inline)", 64 * KIB, 30 * KIB, 10, N);
await run("300 KiB in, 10 B out, max_payload 1 MiB (inline)", 1024 * KIB, 300 * KIB, 10, N);
await run("300 KiB in, 10 B out, max_payload 64 KiB (bucket)", 64 * KIB, 300 * KIB, 10, N);
await run(
  "300 KiB in, 300 KiB out, max_payload 1 MiB (inline)",
  1024 * KIB,
  300 * KIB,
  300 * KIB,
  N,
);
await run(
  "300 KiB in, 300 KiB out, max_payload 64 KiB (bucket)",
  64 * KIB,
  300 * KIB,
  300 * KIB,
  N,
);
await run(
  "300 KiB in, 10 B out, chunks of 4, max_payload 1 MiB (bucket)",
  1024 * KIB,
  300 * KIB,
  10,
  N,
  4,
);
await run(
  "300 KiB in, 10 B out, chunks of 3, max_payload 1 MiB (inline)",
  1024 * KIB,
  300 * KIB,
  10,
  N,
  3,
);
