// A BullMQ worker process for bench/nats_compare.ts: no-op jobs (the job's data is its result)
// from the queue `--queue` on the Redis at `--port`, `--concurrency` jobs at once (the bench uses
// 50). Prints `ready` on stdout once connected; SIGTERM closes the worker and exits 0.
import { redisConnection, Worker } from "./bullmq_deps.ts";

const arg = (name: string, fallback: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1]! : fallback;
};
const worker = new Worker(arg("queue", "bench"), async (job) => await job.data, {
  connection: redisConnection(Number(arg("port", "6379"))),
  concurrency: Number(arg("concurrency", "50")),
});
worker.on("error", (e) => {
  console.error(`bullmq worker: ${e.message}`);
  Deno.exit(1);
});
await worker.waitUntilReady();
console.log("ready");
const stop = () => void worker.close().then(() => Deno.exit(0), () => Deno.exit(1));
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
