/**
 * A minimal private NATS server starter for the state tests (the shared harness lives on
 * another branch): `nats-server -js` on a free loopback port with a temporary store directory,
 * stopped and removed by `[Symbol.asyncDispose]`. The binary is `SPOOL_NATS_SERVER`, else
 * `nats-server` on PATH; a missing binary FAILS the test with a clear message.
 *
 * @module
 */

/** A running server. */
export interface StateTestServer extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>`. */
  url: string;
}

function binary(): string {
  return Deno.env.get("SPOOL_NATS_SERVER") ?? "nats-server";
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Wait until the server accepts TCP connections on `port` (or has exited). */
async function waitListening(port: number, exited: { done: boolean }): Promise<void> {
  for (;;) {
    if (exited.done) throw new Error("nats-server exited before listening");
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Start a JetStream server (`bin` defaults to the one named above); stop it with `await using`. */
export async function startNatsServer(bin = binary()): Promise<StateTestServer> {
  const dir = await Deno.makeTempDir({ prefix: "spool-nats-state-" });
  const port = freePort();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(bin, {
      args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir],
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(
      `nats-server not found (${bin}): set SPOOL_NATS_SERVER to the binary ` +
        "(e.g. /tmp/natsbin/nats-server) or put nats-server on PATH",
      { cause: error },
    );
  }
  const exited = { done: false };
  const status = child.status.then((s) => {
    exited.done = true;
    return s;
  });
  const stop = async () => {
    if (!exited.done) child.kill("SIGTERM");
    await status;
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitListening(port, exited);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `nats://127.0.0.1:${port}`, [Symbol.asyncDispose]: stop };
}
