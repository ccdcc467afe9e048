// Test helpers of the NATS pool tests: a private nats-server on a free loopback port with a
// temporary store, and remote worker processes (src/pool/nats/remote_worker_main.ts).
// The binary: SPOOL_NATS_SERVER, else /tmp/natsbin/nats-server, else nats-server on PATH; a
// missing binary fails the test with a clear message.

/** A running nats-server. */
export interface TestServer extends AsyncDisposable {
  readonly url: string;
}

function serverBinary(): string {
  const env = Deno.env.get("SPOOL_NATS_SERVER");
  if (env) return env;
  try {
    Deno.statSync("/tmp/natsbin/nats-server");
    return "/tmp/natsbin/nats-server";
  } catch {
    return "nats-server";
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

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

/** Start a JetStream-enabled nats-server on 127.0.0.1 with a temporary store dir. */
export async function startServer(): Promise<TestServer> {
  const bin = serverBinary();
  const dir = await Deno.makeTempDir({ prefix: "spool-nats-" });
  const port = freePort();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(bin, {
      args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir],
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(
      `nats-server not found (${bin}): set SPOOL_NATS_SERVER to its path or put it on PATH`,
      { cause: e },
    );
  }
  const ready = await waitForLine(child.stderr, "Server is ready");
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
    await ready.rest;
    await Deno.remove(dir, { recursive: true });
  };
  if (!ready.found) {
    await stop();
    throw new Error(`nats-server did not start: ${ready.seen}`);
  }
  return { url: `nats://127.0.0.1:${port}`, [Symbol.asyncDispose]: stop };
}

/** A running remote worker process. */
export interface TestWorker extends AsyncDisposable {
  readonly pid: number;
  /** SIGTERM, then its exit status (a graceful stop exits 0). */
  stop(): Promise<Deno.CommandStatus>;
  /** SIGKILL, then its exit status. */
  kill(): Promise<Deno.CommandStatus>;
}

/** Start `remote_worker_main.ts` serving `pool` with the test worker module; waits for "ready". */
export async function startWorker(
  url: string,
  pool: string,
  opts: { index: number; concurrency?: number; args: unknown; ackWaitMs?: number },
): Promise<TestWorker> {
  const entry = new URL("../src/pool/nats/remote_worker_main.ts", import.meta.url).pathname;
  const module = new URL("./fixtures/nats_pool_worker.ts", import.meta.url).href;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      entry,
      ...["--servers", url, "--pool", pool, "--module", module],
      ...["--index", String(opts.index), "--concurrency", String(opts.concurrency ?? 2)],
      ...["--args", JSON.stringify(opts.args), "--ack-wait-ms", String(opts.ackWaitMs ?? 30000)],
    ],
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
    [Symbol.asyncDispose]: async () => void await once("SIGKILL"),
  };
}
