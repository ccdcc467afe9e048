/**
 * A remote worker of a NATS pool: it loads ONE worker module (given at start, never named by a
 * message), builds the state once, then pulls tasks from the pool's shared consumer (one
 * `consume()`, at most `concurrency` tasks ahead) and runs up to `concurrency` at once (`task_runner.ts`: `process` on each input, the
 * result published on the map's result stream, then the task acknowledged). A long task is kept
 * with `working()` progress acks (every third of `ack_wait`). A dropped connection is waited out
 * (the client reconnects; pulls and publishes are tried again). Stopping (the signal) ends the
 * pulls, finishes the tasks held, then calls `dispose` and closes the connection. Protocol:
 * `protocol.ts`. Command-line entry: `remote_worker_main.ts`.
 *
 * @module
 */

import { type AnyWorkerDefinition, checkDefinition } from "../define.ts";
import { InvalidArgumentError } from "../../errors.ts";
import { NatsConnectError } from "../../nats/errors.ts";
import { connectNats, type Consumer } from "./client.ts";
import { checkWorkerOptions, type RemoteWorkerOptions } from "./options.ts";
import { poolNames } from "./protocol.ts";
import { ensurePool } from "./setup.ts";
import { runTask, type TaskContext } from "./task_runner.ts";

export type { RemoteWorkerOptions };

const ACTION = "run a remote pool worker";
const LOAD_ACTION = "load the worker module";
/** Results being published (not yet acknowledged by the server) per run slot, at most. */
const PUBLISH_AHEAD = 4;

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
      await serve(consumer, o.concurrency, o.signal, task, o.onReady);
      if (o.signal?.aborted !== true) {
        throw new NatsConnectError(
          ACTION,
          "the connection to NATS closed or the task consumer was deleted",
          {
            received: o.connect.servers,
          },
        );
      }
    } finally {
      if (definition.dispose) await definition.dispose(state);
    }
  } finally {
    await nats.close();
  }
}

/**
 * Run the consumer's tasks, `concurrency` at a time, until `signal` aborts or the connection
 * closes. One `consume()` pulls at most `concurrency` tasks ahead (its refills are paced by this
 * loop, which takes the next task only when a run slot is free); the client re-issues its pulls
 * after a reconnect. On a stop, the tasks pulled and not started go back at once (`nak`).
 */
async function serve(
  consumer: Consumer,
  concurrency: number,
  signal: AbortSignal | undefined,
  task: TaskContext,
  onReady: (() => void) | undefined,
): Promise<void> {
  const messages = await consumer.consume({ max_messages: concurrency });
  const stop = () => void messages.stop();
  signal?.addEventListener("abort", stop, { once: true });
  if (signal?.aborted) stop();
  const running = new Set<Promise<unknown>>();
  const publishing = new Set<Promise<void>>();
  const keep = <T>(set: Set<Promise<T>>, p: Promise<T>) => {
    const kept: Promise<T> = p.finally(() => set.delete(kept));
    set.add(kept);
    return kept;
  };
  try {
    onReady?.();
    for await (const m of messages) {
      // A run slot is free once a task's items are processed; its result's publish (and ack)
      // goes on beside, at most PUBLISH_AHEAD per slot.
      while (
        (running.size >= concurrency || publishing.size >= PUBLISH_AHEAD * concurrency) &&
        signal?.aborted !== true
      ) await Promise.race([...running, ...publishing]);
      if (signal?.aborted === true) {
        m.nak(); // taken while stopping: back to the queue at once
        continue;
      }
      keep(running, runTask(m, task).then((r) => void keep(publishing, r.published)));
    }
  } finally {
    signal?.removeEventListener("abort", stop);
    await Promise.all(running);
    await Promise.all(publishing);
  }
}

/** The definition a module exports, checked. */
async function loadDefinition(module: string | URL, exportName: string) {
  const href = module instanceof URL ? module.href : new URL(module, `file://${Deno.cwd()}/`).href;
  let mod: Record<string, unknown>;
  try {
    mod = await import(href);
  } catch (cause) {
    throw new InvalidArgumentError(LOAD_ACTION, "the module could not be imported", {
      received: href,
      cause,
    });
  }
  const d = mod[exportName] as AnyWorkerDefinition | undefined;
  if (d === null || typeof d !== "object" || typeof d.process !== "function") {
    throw new InvalidArgumentError(
      LOAD_ACTION,
      `it has no export "${exportName}" with a process(state, input) function (use defineWorker)`,
      { received: href },
    );
  }
  checkDefinition(LOAD_ACTION, d);
  return d;
}
