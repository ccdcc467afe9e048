/**
 * A remote worker of a NATS pool: it loads ONE worker module (given at start, never named by a
 * message), builds the state once, then pulls tasks from the pool's shared consumer with
 * `concurrency` pulls in flight and runs each (`task_runner.ts`: `process` on each input, the
 * result published on the map's result stream, then the task acknowledged). A long task is kept
 * with `working()` progress acks (every third of `ack_wait`). A dropped connection is waited out
 * (the client reconnects; pulls and publishes are tried again). Stopping (the signal) ends the
 * pulls, finishes the tasks held, then calls `dispose` and closes the connection. Protocol:
 * `protocol.ts`. Command-line entry: `remote_worker_main.ts`.
 *
 * @module
 */

import { type AnyWorkerDefinition, checkDefinition } from "../define.ts";
import { NatsConnectError } from "../../nats/errors.ts";
import { connectNats, type JsMsg } from "./client.ts";
import { checkWorkerOptions, type RemoteWorkerOptions } from "./options.ts";
import { poolNames } from "./protocol.ts";
import { ensurePool } from "./setup.ts";
import { runTask, type TaskContext } from "./task_runner.ts";

export type { RemoteWorkerOptions };

const ACTION = "run a remote pool worker";
/** How long one pull waits for a task before asking again (the stop flag is read between). */
const PULL_EXPIRES_MS = 1000;
/** Pause after a failed pull (the connection is down or the server restarting). */
const PULL_RETRY_MS = 250;

/**
 * Serve a pool's tasks until `signal` aborts. Resolves once disposed and disconnected; rejects
 * when the module, `init` or the connection fails (with `dispose` called if `init` ran). Bad
 * options are an `InvalidArgumentError`; a refused connection (wrong or missing credentials) or
 * no server is a `NatsConnectError`.
 *
 * @example
 * ```ts ignore
 * const stop = new AbortController();
 * Deno.addSignalListener("SIGTERM", () => stop.abort());
 * await runRemoteWorker({
 *   servers: "nats://127.0.0.1:4222",
 *   token: Deno.env.get("SPOOL_NATS_TOKEN"),
 *   pool: "images",
 *   module: new URL("./resize_worker.ts", import.meta.url),
 *   concurrency: 4,
 *   signal: stop.signal,
 * });
 * ```
 */
export async function runRemoteWorker(options: RemoteWorkerOptions): Promise<void> {
  const o = checkWorkerOptions(ACTION, options);
  const definition = await loadDefinition(o.module, o.exportName);
  const nats = await connectNats(o.connect);
  try {
    const names = poolNames(o.pool);
    const limits = await ensurePool(nats.jsm, names, o);
    const consumer = await nats.js.consumers.get(names.stream, names.consumer);
    const context = { index: o.index, size: o.size, kind: "process" as const };
    const state = definition.init ? await definition.init(o.args, context) : undefined;
    try {
      const task: TaskContext = {
        definition,
        state,
        pool: o.pool,
        index: o.index,
        workerId: crypto.randomUUID().slice(0, 8),
        ackWaitMs: limits.ackWaitMs,
        target: nats,
      };
      const stopped = () => o.signal?.aborted === true || nats.nc.isClosed();
      const next = () => consumer.next({ expires: PULL_EXPIRES_MS });
      o.onReady?.();
      const loops = [];
      for (let i = 0; i < o.concurrency; i++) loops.push(pullLoop(next, stopped, task));
      await Promise.all(loops);
      if (o.signal?.aborted !== true) {
        throw new NatsConnectError(ACTION, "the connection to NATS closed (reconnects failed)", {
          received: o.connect.servers,
        });
      }
    } finally {
      if (definition.dispose) await definition.dispose(state);
    }
  } finally {
    await nats.close();
  }
}

/** Pull and run tasks one at a time until stopped; a failed pull is tried again. */
async function pullLoop(
  next: () => Promise<JsMsg | null>,
  stopped: () => boolean,
  task: TaskContext,
): Promise<void> {
  while (!stopped()) {
    let m: JsMsg | null;
    try {
      m = await next();
    } catch {
      if (stopped()) return;
      await new Promise((r) => setTimeout(r, PULL_RETRY_MS));
      continue;
    }
    if (m === null) continue;
    if (stopped()) {
      m.nak(); // taken while stopping: back to the queue at once
      return;
    }
    await runTask(m, task);
  }
}

/** The definition a module exports, checked. */
async function loadDefinition(module: string | URL, exportName: string) {
  const href = module instanceof URL ? module.href : new URL(module, `file://${Deno.cwd()}/`).href;
  const mod = await import(href);
  const d = mod[exportName] as AnyWorkerDefinition | undefined;
  checkDefinition(`load the worker module ${href}`, d);
  return d!;
}
