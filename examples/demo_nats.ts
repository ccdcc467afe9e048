/**
 * The demo distributed (`--nats URL`): its `enrich` stage on remote workers of a `NatsPool`, the
 * pipeline's checkpoints and the loop's checkpoints in NATS `StateStore`s (JetStream object
 * store + KV; buckets `<bucket>` and `<bucket>-loop`). The inputs, the chunk spool, the
 * dead-letter log and the outputs stay in `--dir` (see docs/demo.md: what to share to resume on
 * another host).
 *
 * Credentials, never on the command line: `SPOOL_NATS_TOKEN`, or `SPOOL_NATS_USER` and
 * `SPOOL_NATS_PASS`, from the environment, or `--nats-creds FILE` (a `.creds` file); the remote
 * worker command reads the same variables (and takes `--creds FILE`).
 *
 * ```sh
 * nats-server -js -sd /tmp/spool-nats -a 127.0.0.1 -p 4222 --auth "$SPOOL_NATS_TOKEN"
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
  type NatsConnectOptions,
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
  /**
   * Bucket of the pipeline's checkpoints (`--nats-bucket`, default `spool-demo`); the loop's
   * checkpoints go to `<bucket>-loop`.
   */
  bucket: string;
  /** Credentials: from `SPOOL_NATS_TOKEN`, `SPOOL_NATS_USER` + `SPOOL_NATS_PASS`, `--nats-creds`. */
  auth?: { token?: string; user?: string; pass?: string; credsFile?: string };
}

/** Pool and bucket names (59 at most: the loop's bucket adds `-loop`). */
const NAME = /^[A-Za-z0-9_-]{1,59}$/;

/**
 * The credentials of the environment and `--nats-creds`: at most one way (a token, a user and
 * password, a `.creds` file); a user without password is an `InvalidArgumentError`.
 */
function authOf(
  action: string,
  creds: string | undefined,
  env: (name: string) => string | undefined,
): DemoNats["auth"] {
  const token = env("SPOOL_NATS_TOKEN") || undefined;
  const user = env("SPOOL_NATS_USER") || undefined;
  const pass = env("SPOOL_NATS_PASS") || undefined;
  if ((user === undefined) !== (pass === undefined)) {
    throw new InvalidArgumentError(
      action,
      "SPOOL_NATS_USER and SPOOL_NATS_PASS go together (both set or neither)",
      { received: user === undefined ? "SPOOL_NATS_PASS" : "SPOOL_NATS_USER" },
    );
  }
  const ways = [
    token && "SPOOL_NATS_TOKEN",
    user && "SPOOL_NATS_USER",
    creds !== undefined && "--nats-creds",
  ].filter(Boolean);
  if (ways.length > 1) {
    throw new InvalidArgumentError(action, "give at most one way to authenticate to NATS", {
      received: ways.join(" and "),
    });
  }
  if (creds === "") {
    throw new InvalidArgumentError(action, "--nats-creds must be a file path", { received: creds });
  }
  if (token) return { token };
  if (user) return { user, pass };
  if (creds !== undefined) return { credsFile: creds };
  return undefined;
}

/** The connect options of the demo's NATS settings: servers and credentials. */
export function connectOptionsOf(nats: DemoNats): NatsConnectOptions {
  return { servers: nats.servers, ...nats.auth };
}

/**
 * The NATS settings of the demo's flags, or undefined without `--nats`; `--nats-pool` and
 * `--nats-bucket` without `--nats`, an empty URL or a bad name are an `InvalidArgumentError`.
 */
export function demoNatsOf(
  action: string,
  values: Record<string, string | boolean | undefined>,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): DemoNats | undefined {
  const url = values.nats as string | undefined;
  const pool = values["nats-pool"] as string | undefined;
  const bucket = values["nats-bucket"] as string | undefined;
  const creds = values["nats-creds"] as string | undefined;
  if (url === undefined) {
    if (pool !== undefined || bucket !== undefined || creds !== undefined) {
      throw new InvalidArgumentError(
        action,
        "--nats-pool, --nats-bucket and --nats-creds need --nats URL",
        { received: pool ?? bucket ?? creds },
      );
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
        `${flag} must be 1 to 59 letters, digits, '_' or '-'`,
        { received: name },
      );
    }
  }
  const auth = authOf(action, creds, env);
  return {
    servers,
    pool: pool ?? "spool-demo",
    bucket: bucket ?? "spool-demo",
    ...(auth === undefined ? {} : { auth }),
  };
}

/** The command that starts a remote worker of this demo (printed while waiting for one). */
export function workerCommand(nats: DemoNats): string {
  const auth = nats.auth;
  const env = auth?.token !== undefined
    ? "SPOOL_NATS_TOKEN=... "
    : auth?.user !== undefined
    ? "SPOOL_NATS_USER=... SPOOL_NATS_PASS=... "
    : "";
  const creds = auth?.credsFile !== undefined ? ` --creds ${auth.credsFile}` : "";
  return `${env}deno run -A src/pool/nats/remote_worker_main.ts ` +
    `--servers ${nats.servers.join(",")} --pool ${nats.pool} ` +
    `--module examples/demo_worker.ts --concurrency 2${creds}`;
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
    ...connectOptionsOf(nats),
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

/** The bucket of the loop's checkpoints. */
export function loopBucketOf(nats: DemoNats): string {
  return `${nats.bucket}-loop`;
}

/**
 * A checkpoint store in NATS bucket `bucket` (the pipeline's, or the loop's: see
 * {@linkcode loopBucketOf}). A killed run's lock is held until it expires (10 s without
 * refresh): this waits for it, saying so.
 */
export async function openNatsStore(nats: DemoNats, bucket = nats.bucket): Promise<StateStore> {
  let said = false;
  for (;;) {
    const storage = await NatsStorage.connect({
      ...connectOptionsOf(nats),
      bucket,
      lockTtlMs: 10_000,
    });
    try {
      return await StateStore.withStorage(storage, { keeper: new LatestStatesKeeper(3) });
    } catch (error) {
      if (!(error instanceof StoreLockedError)) throw error;
      if (!said) {
        const who = bucket === nats.bucket ? "pipeline" : "loop";
        console.log(`${who}: ${error.message}; waiting for its lock to expire (at most 10 s)`);
        said = true;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Forget the checkpoints in NATS (`--fresh`): the KV and object streams of the pipeline's and the
 * loop's buckets.
 */
export async function wipeNatsStore(nats: DemoNats): Promise<void> {
  await using handle = await connectNats(connectOptionsOf(nats));
  const buckets = [nats.bucket, loopBucketOf(nats)];
  for (const stream of buckets.flatMap((b) => [`KV_${b}`, `OBJ_${b}`])) {
    try {
      await handle.jsm.streams.delete(stream);
    } catch (error) {
      if (!/not found/i.test((error as Error).message)) throw error;
    }
  }
}
