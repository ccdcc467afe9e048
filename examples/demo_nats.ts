/**
 * The demo distributed (`--nats URL`): its `enrich` stage on remote workers of a `NatsPool`, its
 * pipeline checkpoints in a NATS `StateStore` (JetStream object store + KV). The loop's
 * checkpoints, the chunk spool and the outputs stay in `--dir`.
 *
 * ```sh
 * nats-server -js -sd /tmp/spool-nats -a 127.0.0.1 -p 4222
 * deno run -A src/pool/nats/remote_worker_main.ts --servers nats://127.0.0.1:4222 \
 *   --pool spool-demo --module examples/demo_worker.ts --concurrency 2   # on each worker host
 * deno task demo --nats nats://127.0.0.1:4222
 * ```
 *
 * @module
 */

import {
  connectNats,
  InvalidArgumentError,
  LatestStatesKeeper,
  NatsPool,
  NatsStorage,
  StateStore,
  StoreLockedError,
} from "../mod.ts";
import * as worker from "./demo_worker.ts";
import type { ParsedReading } from "./demo_worker.ts";

/** Where the distributed demo works. */
export interface DemoNats {
  /** NATS server URL(s). */
  servers: string[];
  /** Pool name of the remote workers (`--nats-pool`, default `spool-demo`). */
  pool: string;
  /** Bucket of the pipeline's checkpoints (`--nats-bucket`, default `spool-demo`). */
  bucket: string;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The NATS settings of the demo's flags, or undefined without `--nats`; `--nats-pool` and
 * `--nats-bucket` without `--nats`, an empty URL or a bad name are an `InvalidArgumentError`.
 */
export function demoNatsOf(
  action: string,
  values: Record<string, string | boolean | undefined>,
): DemoNats | undefined {
  const url = values.nats as string | undefined;
  const pool = values["nats-pool"] as string | undefined;
  const bucket = values["nats-bucket"] as string | undefined;
  if (url === undefined) {
    if (pool !== undefined || bucket !== undefined) {
      throw new InvalidArgumentError(action, "--nats-pool and --nats-bucket need --nats URL", {
        received: pool ?? bucket,
      });
    }
    return undefined;
  }
  const servers = url.split(",").map((s) => s.trim());
  if (servers.some((s) => s === "")) {
    throw new InvalidArgumentError(action, "--nats must be a URL or a comma-separated list", {
      received: url,
    });
  }
  for (const [flag, name] of [["--nats-pool", pool], ["--nats-bucket", bucket]]) {
    if (name !== undefined && !NAME.test(name)) {
      throw new InvalidArgumentError(
        action,
        `${flag} must be 1 to 64 letters, digits, '_' or '-'`,
        { received: name },
      );
    }
  }
  return { servers, pool: pool ?? "spool-demo", bucket: bucket ?? "spool-demo" };
}

/** The command that starts a remote worker of this demo (printed while waiting for one). */
export function workerCommand(nats: DemoNats): string {
  return `deno run -A src/pool/nats/remote_worker_main.ts --servers ${nats.servers.join(",")} ` +
    `--pool ${nats.pool} --module examples/demo_worker.ts --concurrency 2`;
}

/** Readings whose enrichment the remote workers must compute as the local module does. */
const PROBES: ParsedReading[] = [
  { i: -1, t: 0, s: 0, temp: 21.25, humidity: 48.5 },
  { i: -2, t: 25, s: 37, temp: 9.5, humidity: 71 },
  { i: -3, t: 50, s: 63, temp: 30.125, humidity: 33.3 },
];

/**
 * Start the pool of the remote workers and check them: a few probe readings must come back
 * enriched exactly as this side's copy of `demo_worker.ts` (with its default calibration)
 * enriches them, so a worker serving another module or other `--args` is caught before the run
 * (each probe reaches one worker: a mismatch among several workers may go unseen). Waits for a
 * worker, saying how to start one.
 */
export async function startRemotePool(
  nats: DemoNats,
  size: number,
): Promise<NatsPool<typeof worker>> {
  const pool = await NatsPool.start<typeof worker>({
    servers: nats.servers,
    pool: nats.pool,
    size,
  });
  try {
    console.log(
      `pool: remote workers of NATS pool "${nats.pool}" on ${nats.servers.join(",")} ` +
        `(none yet? start one with: ${workerCommand(nats)})`,
    );
    const local = worker.init();
    const expected = PROBES.map((p) => worker.process(local, p));
    const got: unknown[] = [];
    for await (const r of pool.map(PROBES)) got.push(r);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      throw new InvalidArgumentError(
        "check the remote workers",
        `they do not enrich readings as examples/demo_worker.ts does here (another module, ` +
          `or --args other than its default calibration?): expected ${JSON.stringify(expected)}`,
        { received: got },
      );
    }
    return pool;
  } catch (error) {
    await pool.close();
    throw error;
  }
}

/**
 * The pipeline's checkpoint store in the NATS bucket. A killed run's lock is held until it
 * expires (10 s without refresh): this waits for it, saying so.
 */
export async function openNatsStore(nats: DemoNats): Promise<StateStore> {
  let said = false;
  for (;;) {
    const storage = await NatsStorage.connect({
      servers: nats.servers,
      bucket: nats.bucket,
      lockTtlMs: 10_000,
    });
    try {
      return await StateStore.withStorage(storage, { keeper: new LatestStatesKeeper(3) });
    } catch (error) {
      if (!(error instanceof StoreLockedError)) throw error;
      if (!said) {
        console.log(`pipeline: ${error.message}; waiting for its lock to expire (at most 10 s)`);
        said = true;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Forget the pipeline's checkpoints in NATS (`--fresh`): the bucket's KV and object streams. */
export async function wipeNatsStore(nats: DemoNats): Promise<void> {
  await using handle = await connectNats({ servers: nats.servers });
  for (const stream of [`KV_${nats.bucket}`, `OBJ_${nats.bucket}`]) {
    try {
      await handle.jsm.streams.delete(stream);
    } catch (error) {
      if (!/not found/i.test((error as Error).message)) throw error;
    }
  }
}
