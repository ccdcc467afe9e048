// Test helpers of the NATS pool tests: a nats-server from the shared harness (tests/nats/server.ts:
// a free loopback port, a temporary store; the binary is SPOOL_NATS_SERVER, else nats-server on
// PATH, and a missing one fails the test with a clear message), and remote worker processes
// (src/pool/nats/remote_worker_main.ts).

import assert from "node:assert/strict";
import { type NatsServer, type NatsServerOptions, startNatsServer } from "./nats/server.ts";

/** A running nats-server. */
export type TestServer = NatsServer;

/** Read lines of `stream` until one includes `marker`; the rest is drained in the background. */
async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  marker: string,
): Promise<{ found: boolean; seen: string; rest: Promise<void> }> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  for (;;) {
    const r = await reader.read();
    if (r.done) return { found: false, seen, rest: Promise.resolve() };
    seen += r.value;
    if (seen.includes(marker)) break;
  }
  const rest = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  return { found: true, seen, rest };
}

/** Start a JetStream-enabled nats-server on 127.0.0.1 (the shared harness, tests/nats/server.ts). */
export function startServer(options?: NatsServerOptions): Promise<TestServer> {
  return startNatsServer(options);
}

/** A running remote worker process. */
export interface TestWorker extends AsyncDisposable {
  readonly pid: number;
  /** SIGTERM, then its exit status (a graceful stop exits 0). */
  stop(): Promise<Deno.CommandStatus>;
  /** SIGKILL, then its exit status. */
  kill(): Promise<Deno.CommandStatus>;
  /** Settles when the process exits (by itself or stopped). */
  readonly exited: Promise<Deno.CommandStatus>;
}

/** How a test worker is started. */
export interface TestWorkerOptions {
  index: number;
  concurrency?: number;
  args: unknown;
  ackWaitMs?: number;
  /**
   * More `RemoteWorkerOptions` (credentials, maxDeliveries, ...): the worker then runs
   * tests/fixtures/nats_pool_worker_entry.ts with its options as JSON instead of the CLI entry.
   */
  options?: Record<string, unknown>;
}

/** The `deno run` arguments of a worker process. */
function workerArgs(url: string, pool: string, opts: TestWorkerOptions): string[] {
  const module = new URL("./fixtures/nats_pool_worker.ts", import.meta.url).href;
  if (opts.options !== undefined) {
    const entry = new URL("./fixtures/nats_pool_worker_entry.ts", import.meta.url).pathname;
    const options = {
      servers: url,
      pool,
      module,
      index: opts.index,
      concurrency: opts.concurrency ?? 2,
      args: opts.args,
      ackWaitMs: opts.ackWaitMs ?? 30000,
      ...opts.options,
    };
    return ["run", "-A", entry, JSON.stringify(options)];
  }
  const entry = new URL("../src/pool/nats/remote_worker_main.ts", import.meta.url).pathname;
  return [
    "run",
    "-A",
    entry,
    ...["--servers", url, "--pool", pool, "--module", module],
    ...["--index", String(opts.index), "--concurrency", String(opts.concurrency ?? 2)],
    ...["--args", JSON.stringify(opts.args), "--ack-wait-ms", String(opts.ackWaitMs ?? 30000)],
  ];
}

/** Start `remote_worker_main.ts` serving `pool` with the test worker module; waits for "ready". */
export async function startWorker(
  url: string,
  pool: string,
  opts: TestWorkerOptions,
): Promise<TestWorker> {
  const child = new Deno.Command(Deno.execPath(), {
    args: workerArgs(url, pool, opts),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const ready = await waitForLine(child.stdout, "ready");
  const end = async (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* exited */ }
    const status = await child.status;
    await ready.rest;
    return status;
  };
  if (!ready.found) {
    await end("SIGKILL");
    throw new Error(`the remote worker did not start: ${ready.seen}`);
  }
  let status: Promise<Deno.CommandStatus> | undefined;
  const once = (signal: Deno.Signal) => (status ??= end(signal));
  return {
    pid: child.pid,
    stop: () => once("SIGTERM"),
    kill: () => once("SIGKILL"),
    exited: child.status,
    [Symbol.asyncDispose]: async () => void await once("SIGKILL"),
  };
}

/** Keep `count` workers running (a dead one is replaced) until the returned stop is called. */
export function supervise(url: string, pool: string, count: number, args: unknown) {
  let stopping = false;
  let deaths = 0;
  const alive = new Set<TestWorker>();
  const slot = async (index: number) => {
    while (!stopping) {
      const w = await startWorker(url, pool, { index, concurrency: 1, args, ackWaitMs: 500 });
      alive.add(w);
      const status = await w.exited;
      alive.delete(w);
      if (stopping) break;
      assert.equal(status.signal, "SIGKILL", "a worker dies only by its poison input");
      deaths++;
    }
  };
  const slots = Array.from({ length: count }, (_, i) => slot(i));
  return {
    get deaths() {
      return deaths;
    },
    async stop() {
      stopping = true;
      for (const w of alive) assert.equal((await w.stop()).code, 0);
      await Promise.all(slots);
    },
  };
}
