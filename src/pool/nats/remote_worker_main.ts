/**
 * The remote worker command: serve a NATS pool's tasks with one `defineWorker` module, on any
 * host that reaches the NATS server. Three ways to start it, all the same code
 * ({@linkcode remoteWorkerMain}):
 *
 * ```sh
 * deno run -A jsr:@spool/spool/worker --servers nats://nats.example:4222 --pool images \
 *   --module ./resize_worker.ts --concurrency 4
 * deno task spool worker --servers nats://127.0.0.1:4222 --pool images --module ./resize_worker.ts
 * deno run -A src/pool/nats/remote_worker_main.ts --pool images --module ./resize_worker.ts
 * ```
 *
 * Flags (`--flag value` or `--flag=value`): `--servers` (comma-separated URLs; default
 * `$SPOOL_NATS_SERVERS`, else `nats://127.0.0.1:4222`), `--pool` and `--module` (required),
 * `--export` (default `default`), `--concurrency` (default 1), `--index`, `--size`, `--args`
 * (JSON init arguments), `--ack-wait-ms` and `--max-deliveries` (the task consumer's, if this
 * worker creates it), and the connection's `--token`, `--user`, `--pass`,
 * `--nkey-seed`, `--creds`, `--tls-ca`, `--tls-cert`, `--tls-key`, `--name`,
 * `--connect-timeout-ms`. Secrets are better given in the environment, where `ps` does not show
 * them: `SPOOL_NATS_TOKEN`, `SPOOL_NATS_USER`, `SPOOL_NATS_PASS`, `SPOOL_NATS_NKEY_SEED`,
 * `SPOOL_NATS_CREDS` (a flag wins over its variable).
 *
 * It prints `ready` on stdout once connected and initialised. SIGTERM or SIGINT stops it
 * gracefully (no new pulls, the tasks held finish and are acknowledged, `dispose` runs, exit 0);
 * a second signal exits at once (130 / 143; the tasks it held are redelivered after `ack_wait`).
 * Exit codes: 0 stopped, 1 the worker failed (`init`, connection), 2 bad usage (flags, a module
 * that cannot be imported or exports no worker definition).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { InvalidArgumentError } from "../../errors.ts";
import type { NatsConnectOptions } from "../../nats/options.ts";
import { type RemoteWorkerOptions, runRemoteWorker } from "./remote_worker.ts";

/** The usage text of the worker command. */
export const WORKER_USAGE: string =
  "usage: spool worker --pool NAME --module worker.ts [--servers nats://host:4222[,...]]\n" +
  "         [--export default] [--concurrency N] [--index I] [--size N] [--args JSON]\n" +
  "         [--ack-wait-ms MS] [--max-deliveries N]\n" +
  "         [--token T | --user U --pass P | --nkey-seed S | --creds FILE]\n" +
  "         [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--name NAME]\n" +
  "         [--connect-timeout-ms MS]\n" +
  "       (or: deno run -A jsr:@spool/spool/worker ...)\n" +
  "environment: SPOOL_NATS_SERVERS, SPOOL_NATS_TOKEN, SPOOL_NATS_USER, SPOOL_NATS_PASS,\n" +
  "             SPOOL_NATS_NKEY_SEED, SPOOL_NATS_CREDS (a flag wins over its variable)";

const STRING_FLAGS = [
  "servers",
  "pool",
  "module",
  "export",
  "concurrency",
  "index",
  "size",
  "args",
  "ack-wait-ms",
  "max-deliveries",
  "token",
  "user",
  "pass",
  "nkey-seed",
  "creds",
  "tls-ca",
  "tls-cert",
  "tls-key",
  "name",
  "connect-timeout-ms",
] as const;

/** The environment variable a flag falls back to. */
const ENV_OF: Partial<Record<(typeof STRING_FLAGS)[number], string>> = {
  servers: "SPOOL_NATS_SERVERS",
  token: "SPOOL_NATS_TOKEN",
  user: "SPOOL_NATS_USER",
  pass: "SPOOL_NATS_PASS",
  "nkey-seed": "SPOOL_NATS_NKEY_SEED",
  creds: "SPOOL_NATS_CREDS",
};

/**
 * The options of the worker, with the connection's (the remote worker connects with them) and
 * `maxDeliveries` (the task consumer's `max_deliver` if this worker creates it).
 */
export type WorkerArgs = RemoteWorkerOptions & NatsConnectOptions & { maxDeliveries?: number };

/** What {@linkcode parseWorkerArgs} returns: the options, or that `--help` was asked for. */
export type ParsedWorkerArgs = { help: true } | { help: false; options: WorkerArgs };

/** Bad usage of the command: its message is printed with the usage, exit code 2. */
class UsageError extends Error {}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A flag's value as a number (an integer >= `min`), or undefined when absent. */
function integerFlag(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      `--${flag} must be an integer >= ${min}, received ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function jsonFlag(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new UsageError(`--args must be JSON (${messageOf(error)}), received ${value}`);
  }
}

/** The parsed flags, each falling back to its environment variable. */
function flagValues(
  argv: readonly string[],
  env: (name: string) => string | undefined,
): { help: boolean; get(flag: (typeof STRING_FLAGS)[number]): string | undefined } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        help: { type: "boolean", short: "h" },
        ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: "string" as const }])),
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(messageOf(error));
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  return {
    help: values.help === true,
    get: (flag) => {
      const v = values[flag];
      if (typeof v === "string") return v;
      const name = ENV_OF[flag];
      const fromEnv = name === undefined ? undefined : env(name);
      return fromEnv === "" ? undefined : fromEnv;
    },
  };
}

/** The connection part of the options: credentials and TLS as `connectNats` takes them. */
function connectOptionsOf(get: (flag: (typeof STRING_FLAGS)[number]) => string | undefined) {
  const out: Omit<NatsConnectOptions, "servers"> = {};
  const token = get("token"), user = get("user"), pass = get("pass");
  const nkeySeed = get("nkey-seed"), credsFile = get("creds"), name = get("name");
  if (token !== undefined) out.token = token;
  if (user !== undefined) out.user = user;
  if (pass !== undefined) out.pass = pass;
  if (nkeySeed !== undefined) out.nkeySeed = nkeySeed;
  if (credsFile !== undefined) out.credsFile = credsFile;
  if (name !== undefined) out.name = name;
  const caFile = get("tls-ca"), certFile = get("tls-cert"), keyFile = get("tls-key");
  if (caFile !== undefined || certFile !== undefined || keyFile !== undefined) {
    out.tls = {};
    if (caFile !== undefined) out.tls.caFile = caFile;
    if (certFile !== undefined) out.tls.certFile = certFile;
    if (keyFile !== undefined) out.tls.keyFile = keyFile;
  }
  const timeoutMs = integerFlag("connect-timeout-ms", get("connect-timeout-ms"), 1);
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  return out;
}

/**
 * Parse the worker command's flags (`env` reads the environment, for the secrets). Throws an
 * `Error` naming the flag for bad usage (an unknown flag, a missing value, a bad number, bad
 * JSON, no `--pool` or `--module`).
 *
 * @example
 * ```ts
 * import { parseWorkerArgs } from "./remote_worker_main.ts";
 * const parsed = parseWorkerArgs(
 *   ["--pool", "images", "--module", "./w.ts", "--concurrency=4"],
 *   (name) => name === "SPOOL_NATS_TOKEN" ? "s3cret" : undefined,
 * );
 * if (parsed.help || parsed.options.token !== "s3cret") throw new Error("unexpected");
 * ```
 */
export function parseWorkerArgs(
  argv: readonly string[],
  env: (name: string) => string | undefined = readEnv,
): ParsedWorkerArgs {
  const f = flagValues(argv, env);
  if (f.help) return { help: true };
  const pool = f.get("pool"), module = f.get("module");
  if (pool === undefined || module === undefined) {
    const missing = [pool === undefined ? "--pool" : "", module === undefined ? "--module" : ""]
      .filter((m) => m !== "");
    throw new UsageError(
      `${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} required, received nothing`,
    );
  }
  const servers = (f.get("servers") ?? "nats://127.0.0.1:4222").split(",").map((s) => s.trim());
  if (servers.some((s) => s === "")) {
    throw new UsageError(
      `--servers has an empty URL, received ${JSON.stringify(f.get("servers"))}`,
    );
  }
  const options: WorkerArgs = {
    ...connectOptionsOf(f.get),
    servers,
    pool,
    module,
    exportName: f.get("export"),
    concurrency: integerFlag("concurrency", f.get("concurrency"), 1),
    index: integerFlag("index", f.get("index"), 0),
    size: integerFlag("size", f.get("size"), 1),
    args: jsonFlag(f.get("args")),
    ackWaitMs: integerFlag("ack-wait-ms", f.get("ack-wait-ms"), 1),
  };
  const maxDeliveries = integerFlag("max-deliveries", f.get("max-deliveries"), 1);
  if (maxDeliveries !== undefined) options.maxDeliveries = maxDeliveries;
  return { help: false, options };
}

/** `Deno.env.get`, or undefined without the permission to read the environment. */
function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Options of {@linkcode remoteWorkerMain}. */
export interface RemoteWorkerMainOptions {
  /** Stop the worker gracefully; without it, SIGTERM and SIGINT do (a second one exits). */
  signal?: AbortSignal;
  /** Called once connected and initialised (default: print `ready` on stdout). */
  onReady?: () => void;
  /** Where messages and the usage after bad usage go (default: `console.error`). */
  log?: (line: string) => void;
  /** Where `--help` prints the usage (default: `console.log`). */
  out?: (line: string) => void;
  /** Reads an environment variable (default: `Deno.env.get`). */
  env?: (name: string) => string | undefined;
}

/** Stop on the first SIGTERM / SIGINT, exit at once on a second one; returns the removal. */
function stopOnSignals(stop: AbortController, log: (line: string) => void): () => void {
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = () => {
      if (stop.signal.aborted) {
        log(`spool worker: ${signal} again: exiting now; held tasks are redelivered`);
        Deno.exit(signal === "SIGINT" ? 130 : 143);
      }
      log(`spool worker: ${signal}: stopping (held tasks finish, then dispose)`);
      stop.abort();
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  };
}

/**
 * Run the worker command with `argv` (the flags, without the command name) until it is stopped;
 * returns the exit code: 0 stopped gracefully, 1 the worker failed, 2 bad usage (the message
 * and the usage are logged). `--help` logs the usage and returns 0.
 *
 * @example
 * ```ts
 * import { remoteWorkerMain } from "./remote_worker_main.ts";
 * const lines: string[] = [];
 * const code = await remoteWorkerMain(["--pool", "images"], { log: (l) => lines.push(l) });
 * if (code !== 2 || !lines[0]!.includes("--module is required")) throw new Error("unexpected");
 * ```
 */
export async function remoteWorkerMain(
  argv: readonly string[],
  options: RemoteWorkerMainOptions = {},
): Promise<number> {
  const log = options.log ?? ((line: string) => console.error(line));
  let parsed;
  try {
    parsed = parseWorkerArgs(argv, options.env);
  } catch (error) {
    log(`spool worker: ${messageOf(error)}`);
    log(WORKER_USAGE);
    return 2;
  }
  if (parsed.help) {
    (options.out ?? ((line: string) => console.log(line)))(WORKER_USAGE);
    return 0;
  }
  const stop = new AbortController();
  const removeSignals = options.signal === undefined ? stopOnSignals(stop, log) : () => {};
  const signal = options.signal ?? stop.signal;
  try {
    await runRemoteWorker({
      ...parsed.options,
      signal,
      onReady: options.onReady ?? (() => console.log("ready")),
    });
    return 0;
  } catch (error) {
    log(`spool worker: ${messageOf(error)}`);
    // A bad value (pool name, a module that cannot be imported, no definition): exit 2.
    return error instanceof InvalidArgumentError ? 2 : 1;
  } finally {
    removeSignals();
  }
}

if (import.meta.main) {
  Deno.exit(await remoteWorkerMain(Deno.args));
}
