/**
 * One task on a remote worker: decode it, run `process` on each input (each raced against the
 * map's `timeoutMs` when it has one), publish the result on the map's result stream and
 * acknowledge the task only once the server stored the result (its PubAck). Until then the task
 * is kept with `working()` progress acks. Protocol: `protocol.ts`.
 *
 * @module
 */

import { serialize } from "node:v8";
import { InvalidArgumentError, TimeoutError } from "../../errors.ts";
import type { AnyWorkerDefinition } from "../define.ts";
import { encodeError } from "../errors.ts";
import { SPREAD } from "../protocol.ts";
import { headers, type JsMsg } from "./client.ts";
import {
  ATTEMPT_HEADER,
  CHUNK_HEADER,
  decodeTask,
  encodeResult,
  MAP_HEADER,
  resultMsgId,
  resultsSubject,
  TIMEOUT_HEADER,
  WORKER_HEADER,
  WORKER_ID_HEADER,
} from "./protocol.ts";
import type { PublishTarget } from "./publish.ts";
import { publishBody, unpackTask } from "./large_payload.ts";

/** What one task run needs. */
export interface TaskContext {
  readonly definition: AnyWorkerDefinition;
  readonly state: unknown;
  readonly pool: string;
  readonly index: number;
  /** A random id of this worker process. */
  readonly workerId: string;
  readonly ackWaitMs: number;
  readonly target: PublishTarget;
}

/**
 * Run one task: process its items, then publish the result (retried) and ack. Resolves once the
 * items are processed, with `published`, the promise of the publish and ack (so the caller can
 * start the next task while the PubAck travels); the task keeps its progress acks until it is
 * acknowledged.
 */
export async function runTask(
  m: JsMsg,
  task: TaskContext,
): Promise<{ published: Promise<void> }> {
  const map = m.headers?.get(MAP_HEADER) ?? "";
  const chunk = m.headers?.get(CHUNK_HEADER) ?? "";
  const timeoutMs = Number(m.headers?.get(TIMEOUT_HEADER) || 0);
  let body;
  try {
    if (map === "" || chunk === "") throw new Error("the task has no map or chunk header");
    body = decodeTask(await unpackTask(task, m));
  } catch {
    m.term(); // malformed: never redelivered
    return { published: Promise.resolve() };
  }
  const progress = setInterval(() => m.working(), Math.max(task.ackWaitMs / 3, 20));
  let data: Uint8Array;
  try {
    const [flags, items] = body;
    const t0 = performance.now();
    const [values, failures] = await processItems(task, (flags & SPREAD) !== 0, items, timeoutMs);
    data = encodeSafely(performance.now() - t0, values, failures);
  } catch (e) {
    clearInterval(progress);
    throw e;
  }
  const h = headers();
  h.set(MAP_HEADER, map);
  h.set(CHUNK_HEADER, chunk);
  h.set(ATTEMPT_HEADER, String(m.info.deliveryCount));
  h.set(WORKER_HEADER, String(task.index));
  h.set(WORKER_ID_HEADER, task.workerId);
  const subject = resultsSubject(task.pool, map);
  const options = { msgID: resultMsgId(map, chunk), headers: h };
  const large = { pool: task.pool, attempt: m.info.deliveryCount };
  const published = publishBody(task.target, subject, data, options, undefined, large).then(
    () => m.ack(),
    () => {/* not stored: no ack, the task is redelivered after ack_wait */},
  ).finally(() => clearInterval(progress));
  return { published };
}

/** `process(state, item)` (or spread), raced against `timeoutMs` when it is > 0. */
function callProcess(
  task: TaskContext,
  spread: boolean,
  item: unknown,
  timeoutMs: number,
): unknown {
  const proc = task.definition.process;
  if (spread && !Array.isArray(item)) {
    throw new InvalidArgumentError(
      "spread an input into process() arguments",
      "with spread: true each input must be an array of arguments",
      { received: item },
    );
  }
  const out = spread ? proc(task.state, ...(item as unknown[])) : proc(task.state, item);
  if (timeoutMs <= 0 || !(out instanceof Promise)) return out;
  out.catch(() => {}); // an overrun that fails later is not an unhandled rejection
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new TimeoutError(
          "process an input",
          "it ran longer than the map's timeoutMs (the worker moved on)",
          { received: timeoutMs },
        ),
      );
    }, timeoutMs);
  });
  return Promise.race([out, limit]).finally(() => clearTimeout(timer));
}

/** `process` on each item: the values, and the positions of failed items (their EncodedError). */
async function processItems(
  task: TaskContext,
  spread: boolean,
  items: unknown[],
  timeoutMs: number,
): Promise<[unknown[], number[] | 0]> {
  const values = new Array(items.length);
  let failures: number[] | 0 = 0;
  for (let i = 0; i < items.length; i++) {
    try {
      values[i] = await callProcess(task, spread, items[i], timeoutMs);
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
