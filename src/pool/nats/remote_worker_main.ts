/**
 * Command-line entry of a remote pool worker (`remote_worker.ts`):
 *
 * ```sh
 * deno run -A src/pool/nats/remote_worker_main.ts --servers nats://127.0.0.1:4222 \
 *   --pool images --module ./resize_worker.ts [--export default] [--concurrency 4] \
 *   [--index 0] [--size 1] [--args '{"json":true}'] [--ack-wait-ms 30000] [--creds FILE]
 * ```
 *
 * Credentials, never on the command line: `SPOOL_NATS_TOKEN` (a token), or `SPOOL_NATS_USER` and
 * `SPOOL_NATS_PASS` (user and password) from the environment, or `--creds FILE` (a `.creds` file).
 *
 * SIGTERM or SIGINT stops it gracefully (no new pulls, the tasks held finish, `dispose` runs). It
 * prints `ready` on stdout once connected and initialised.
 *
 * @module
 */

import { InvalidArgumentError } from "../../errors.ts";
import { runRemoteWorker } from "./remote_worker.ts";

const FLAGS = [
  "servers",
  "pool",
  "module",
  "export",
  "concurrency",
  "index",
  "size",
  "args",
  "ack-wait-ms",
  "creds",
];

/** The credentials of the environment (`SPOOL_NATS_TOKEN`, `SPOOL_NATS_USER` + `SPOOL_NATS_PASS`). */
export function credentialsFromEnv(
  get: (name: string) => string | undefined = (name) => Deno.env.get(name),
): { token?: string; user?: string; pass?: string } {
  const token = get("SPOOL_NATS_TOKEN") || undefined;
  const user = get("SPOOL_NATS_USER") || undefined;
  const pass = get("SPOOL_NATS_PASS") || undefined;
  return { ...(token && { token }), ...(user && { user }), ...(pass && { pass }) };
}

/** Parse `--name value` pairs. */
export function parseFlags(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]!.replace(/^--/, "");
    const value = argv[i + 1];
    if (!FLAGS.includes(name) || value === undefined) {
      throw new InvalidArgumentError("start a remote pool worker", "unknown flag or no value", {
        received: argv[i],
      });
    }
    out.set(name, value);
  }
  return out;
}

if (import.meta.main) {
  const f = parseFlags(Deno.args);
  const num = (name: string) => f.has(name) ? Number(f.get(name)) : undefined;
  const stop = new AbortController();
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(sig, () => stop.abort());
  }
  await runRemoteWorker({
    servers: (f.get("servers") ?? "nats://127.0.0.1:4222").split(","),
    pool: f.get("pool") ?? "",
    module: f.get("module") ?? "",
    exportName: f.get("export"),
    concurrency: num("concurrency"),
    index: num("index"),
    size: num("size"),
    args: f.has("args") ? JSON.parse(f.get("args")!) : undefined,
    ackWaitMs: num("ack-wait-ms"),
    ...credentialsFromEnv(),
    ...(f.has("creds") ? { credsFile: f.get("creds") } : {}),
    signal: stop.signal,
    onReady: () => console.log("ready"),
  });
  Deno.exit(0);
}
