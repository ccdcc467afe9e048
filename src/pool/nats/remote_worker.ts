/**
 * A remote worker of a NATS pool: it loads ONE worker module (given at start, never named by a
 * message), builds the state once, then pulls tasks from the pool's shared consumer with
 * `concurrency` pulls in flight, runs `process` on each input, publishes the results on the map's
 * results subject and acknowledges the task. A long task is kept with `working()` progress acks
 * (every third of `ack_wait`). Stopping (the signal) ends the pulls, finishes the tasks held, then
 * calls `dispose` and closes the connection. Protocol: `protocol.ts`. Command-line entry:
 * `remote_worker_main.ts`.
 *
 * @module
 */

import { serialize } from "node:v8";
import { InvalidArgumentError } from "../../errors.ts";
import { type AnyWorkerDefinition, checkDefinition } from "../define.ts";
import { encodeError } from "../errors.ts";
import { SPREAD } from "../protocol.ts";
import { connectNats, headers, type JsMsg } from "./client.ts";
import { checkWorkerOptions, type RemoteWorkerOptions } from "./options.ts";
import {
  ATTEMPT_HEADER,
  CHUNK_HEADER,
  decodeTask,
  encodeResult,
  MAP_HEADER,
  poolNames,
  resultsSubject,
  WORKER_HEADER,
} from "./protocol.ts";
import { ensurePool } from "./setup.ts";

const ACTION = "run a remote pool worker";
/** How long one pull waits for a task before asking again (the stop flag is read between). */
const PULL_EXPIRES_MS = 1000;

export type { RemoteWorkerOptions };

/** What one task run needs. */
interface TaskContext {
  readonly definition: AnyWorkerDefinition;
  readonly state: unknown;
  readonly pool: string;
  readonly index: number;
  readonly ackWaitMs: number;
  publish(subject: string, data: Uint8Array, hdrs: ReturnType<typeof headers>): void;
}

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
 *   pool: "images",
 *   module: new URL("./resize_worker.ts", import.meta.url),
 *   concurrency: 4,
 *   signal: stop.signal,
 * });
 * ```
 */
export async function runRemoteWorker(options: RemoteWorkerOptions): Promise<void> {
  const o = checkWorkerOptions(ACTION, options);
  const { pool, index, concurrency } = o;
  const definition = await loadDefinition(o.module, o.exportName);
  const nats = await connectNats(o.connect);
  const nc = nats.nc;
  try {
    const names = poolNames(pool);
    const ackWaitMs = await ensurePool(nats.jsm, names, o.ackWaitMs);
    const consumer = await nats.js.consumers.get(names.stream, names.consumer);
    const context = { index, size: o.size, kind: "process" as const };
    const state = definition.init ? await definition.init(o.args, context) : undefined;
    try {
      const task: TaskContext = {
        definition,
        state,
        pool,
        index,
        ackWaitMs,
        publish: (subject, data, hdrs) => nc.publish(subject, data, { headers: hdrs }),
      };
      const stopped = () => o.signal?.aborted === true;
      o.onReady?.();
      const loops = [];
      for (let i = 0; i < concurrency; i++) {
        loops.push(pullLoop(() => consumer.next({ expires: PULL_EXPIRES_MS }), stopped, task));
      }
      await Promise.all(loops);
    } finally {
      if (definition.dispose) await definition.dispose(state);
    }
  } finally {
    await nats.close();
  }
}

/** Pull and run tasks one at a time until stopped. */
async function pullLoop(
  next: () => Promise<JsMsg | null>,
  stopped: () => boolean,
  task: TaskContext,
): Promise<void> {
  while (!stopped()) {
    const m = await next();
    if (m === null) continue;
    if (stopped()) {
      m.nak(); // taken while stopping: back to the queue at once
      return;
    }
    await runTask(m, task);
  }
}

/** Run one task: process its items, publish the results, then ack. */
async function runTask(m: JsMsg, task: TaskContext): Promise<void> {
  const map = m.headers?.get(MAP_HEADER) ?? "";
  const chunk = m.headers?.get(CHUNK_HEADER) ?? "";
  let body;
  try {
    if (map === "" || chunk === "") throw new Error("the task has no map or chunk header");
    body = decodeTask(m.data);
  } catch {
    m.term(); // malformed: never redelivered
    return;
  }
  const progress = setInterval(() => m.working(), Math.max(task.ackWaitMs / 3, 20));
  try {
    const [flags, items] = body;
    const t0 = performance.now();
    const [values, failures] = await processItems(task, (flags & SPREAD) !== 0, items);
    const h = headers();
    h.set(MAP_HEADER, map);
    h.set(CHUNK_HEADER, chunk);
    h.set(ATTEMPT_HEADER, String(m.info.deliveryCount));
    h.set(WORKER_HEADER, String(task.index));
    const data = encodeSafely(performance.now() - t0, values, failures);
    // One connection keeps the order: the result reaches the server before the ack.
    task.publish(resultsSubject(task.pool, map), data, h);
    m.ack();
  } finally {
    clearInterval(progress);
  }
}

/** `process` on each item: the values, and the positions of failed items (their EncodedError). */
async function processItems(
  task: TaskContext,
  spread: boolean,
  items: unknown[],
): Promise<[unknown[], number[] | 0]> {
  const proc = task.definition.process;
  const values = new Array(items.length);
  let failures: number[] | 0 = 0;
  for (let i = 0; i < items.length; i++) {
    try {
      const item = items[i];
      if (spread && !Array.isArray(item)) {
        throw new InvalidArgumentError(
          "spread an input into process() arguments",
          "with spread: true each input must be an array of arguments",
          { received: item },
        );
      }
      values[i] =
        await (spread ? proc(task.state, ...(item as unknown[])) : proc(task.state, item));
    } catch (e) {
      (failures ||= []).push(i);
      values[i] = encodeError(e);
    }
  }
  return [values, failures];
}

/** Encode a result; a value that cannot be serialized fails alone. */
function encodeSafely(busyMs: number, values: unknown[], failures: number[] | 0): Uint8Array {
  try {
    return encodeResult(busyMs, values, failures);
  } catch {
    const failed = new Set(failures || []);
    for (let i = 0; i < values.length; i++) {
      if (failed.has(i)) continue;
      try {
        serialize(values[i]);
      } catch (e) {
        failed.add(i);
        values[i] = encodeError(
          new InvalidArgumentError("send a result to the pool", "the value cannot be serialized", {
            received: values[i],
            cause: e,
          }),
        );
      }
    }
    return encodeResult(busyMs, values, [...failed].sort((a, b) => a - b));
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
