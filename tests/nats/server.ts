/**
 * Test harness: a real nats-server on a free loopback port, with its own temporary folder (config,
 * log, JetStream store), started and stopped by the test. The binary is `SPOOL_NATS_SERVER`, else
 * `nats-server` on PATH; `.ci/run` installs v2.15.2 and exports the variable. A missing binary is
 * an error (the test fails), never a skip.
 *
 * @example
 * ```ts ignore
 * await using server = await startNatsServer({ token: "s3cret" });
 * // ... connect to server.url ...
 * await server.kill(); // SIGKILL: the store stays on disk
 * await server.restart(); // same store, same port
 * ```
 *
 * @module
 */

/** How the server is configured. */
export interface NatsServerOptions {
  /** JetStream on (default) or off. */
  jetstream?: boolean;
  /** Require this token from clients. */
  token?: string;
  /** Require this user (with `password`) from clients. */
  user?: string;
  /** The password of `user`. */
  password?: string;
  /** Require a client holding the seed of this NKey public key (`U...`). */
  nkey?: string;
  /** Serve TLS only, with this certificate and key (PEM paths). */
  tls?: { certFile: string; keyFile: string };
  /** The server's `max_payload` in bytes (server default 1 MiB). */
  maxPayload?: number;
}

/** A running server owned by a test. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** The client port. */
  readonly port: number;
  /** The JetStream store folder (kept across {@linkcode NatsServer.restart}). */
  readonly storeDir: string;
  /** Stop the server (SIGTERM, wait for exit) and remove its folder. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL the server and wait for it to exit; the folder stays for {@linkcode restart}. */
  kill(): Promise<void>;
  /** Start the server again on the same port and store (stopping it first if it runs). */
  restart(): Promise<void>;
  /** Same as {@linkcode NatsServer.stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** How long a start may take before it is an error (a loaded machine is slow, not broken). */
const READY_LIMIT_MS = 20_000;

/** The nats-server binary: `SPOOL_NATS_SERVER`, else `nats-server` on PATH. */
export function natsServerBinary(): string {
  return Deno.env.get("SPOOL_NATS_SERVER") || "nats-server";
}

/** The server's version line; throws a clear Error when the binary cannot be run. */
export async function natsServerVersion(): Promise<string> {
  const bin = natsServerBinary();
  try {
    const out = await new Deno.Command(bin, { args: ["--version"], stdin: "null" }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch (cause) {
    throw new Error(
      `nats-server not found: ran "${bin}" (${(cause as Error).message}). Set SPOOL_NATS_SERVER ` +
        "to a nats-server v2.15.2 binary, or run the install step of .ci/run " +
        "(go install github.com/nats-io/nats-server/v2@v2.15.2)",
      { cause },
    );
  }
}

/** A port free on 127.0.0.1 right now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The config file text (nats-server's format; strings JSON-quoted). */
function configOf(options: NatsServerOptions, port: number, http: number, dir: string): string {
  const q = JSON.stringify;
  const lines = [`listen: "127.0.0.1:${port}"`, `http: "127.0.0.1:${http}"`];
  if (options.jetstream ?? true) lines.push(`jetstream { store_dir: ${q(`${dir}/store`)} }`);
  if (options.maxPayload !== undefined) lines.push(`max_payload: ${options.maxPayload}`);
  if (options.token !== undefined) lines.push(`authorization { token: ${q(options.token)} }`);
  if (options.tls !== undefined) {
    const { certFile, keyFile } = options.tls;
    lines.push(`tls { cert_file: ${q(certFile)}, key_file: ${q(keyFile)} }`);
  }
  if (options.nkey !== undefined) {
    lines.push(`authorization { users: [ { nkey: ${q(options.nkey)} } ] }`);
  }
  if (options.user !== undefined) {
    lines.push(
      `authorization { users: [ { user: ${q(options.user)}, password: ${
        q(options.password ?? "")
      } } ] }`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Poll `/healthz` until it answers 200, the process exits, or the limit passes. */
async function waitReady(child: Deno.ChildProcess, http: number, log: string): Promise<void> {
  let exited: Deno.CommandStatus | undefined;
  const watch = child.status.then((s) => (exited = s));
  const deadline = Date.now() + READY_LIMIT_MS;
  while (exited === undefined) {
    try {
      const res = await fetch(`http://127.0.0.1:${http}/healthz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) break;
    await Promise.race([watch, new Promise((r) => setTimeout(r, 25))]);
  }
  const text = await Deno.readTextFile(log).catch(() => "(no log)");
  if (exited === undefined) {
    child.kill("SIGKILL");
    await child.status;
  }
  throw new Error(
    `nats-server did not become ready (${exited ? `exit code ${exited.code}` : "timed out"}):\n${
      text.slice(-2000)
    }`,
  );
}

/**
 * Start a nats-server for a test: free loopback port, temporary folder, JetStream on by default.
 * Resolves once `/healthz` answers. Stop it with `await using`, `stop()` or `kill()` + `stop()`.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  await natsServerVersion();
  const dir = await Deno.makeTempDir({ prefix: "spool-nats-" });
  const port = freePort();
  const http = freePort();
  const conf = `${dir}/server.conf`;
  const log = `${dir}/server.log`;
  await Deno.writeTextFile(conf, configOf(options, port, http, dir));
  let child: Deno.ChildProcess | undefined;
  let removed = false;

  async function spawn(): Promise<void> {
    child = new Deno.Command(natsServerBinary(), {
      args: ["-c", conf, "-l", log],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitReady(child, http, log);
  }

  async function end(signal: Deno.Signal): Promise<void> {
    const c = child;
    child = undefined;
    if (c === undefined) return;
    try {
      c.kill(signal);
    } catch { /* already exited */ }
    await c.status;
  }

  async function stop(): Promise<void> {
    await end("SIGTERM");
    if (!removed) {
      removed = true;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  try {
    await spawn();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir: `${dir}/store`,
    stop,
    kill: () => end("SIGKILL"),
    async restart() {
      await end("SIGTERM");
      await spawn();
    },
    [Symbol.asyncDispose]: stop,
  };
}
