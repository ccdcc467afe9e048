import assert from "node:assert/strict";
import { deserialize, serialize } from "node:v8";
import { InvalidArgumentError } from "../errors.ts";
import {
  CloneError,
  decodeError,
  encodeError,
  findUnsendable,
  TaskError,
  WorkerCrashError,
  WorkerDisposeError,
  WorkerInitError,
} from "./errors.ts";

const viaThread = (e: unknown) => decodeError(structuredClone(encodeError(e)));
const viaProcess = (e: unknown) => decodeError(deserialize(serialize(encodeError(e))));

Deno.test("encodeError/decodeError: classes, properties and causes survive both encodings", () => {
  for (const roundTrip of [viaThread, viaProcess]) {
    const inner = new URIError("inner");
    const err = Object.assign(new RangeError("outer", { cause: inner }), {
      code: "E1",
      fn: () => 1, // cannot be sent: dropped
    });
    const back = roundTrip(err);
    assert.ok(back instanceof RangeError && back.message === "outer");
    assert.equal(back.stack, err.stack);
    assert.equal((back as unknown as { code: string }).code, "E1");
    assert.equal("fn" in back, false);
    assert.ok(back.cause instanceof URIError && back.cause.message === "inner");
    // spool's own classes come back as themselves, message unchanged
    const spool = roundTrip(new InvalidArgumentError("do a thing", "bad", { received: 3 }));
    assert.ok(spool instanceof InvalidArgumentError);
    assert.equal(spool.message, "Cannot do a thing: bad, received 3");
    assert.equal((spool as InvalidArgumentError).received, 3);
    // a cycle in the cause chain ends
    const a = new Error("a");
    a.cause = a;
    assert.equal(roundTrip(a).message, "a");
    // a thrown non-error
    const thrown = roundTrip({ reason: "x" });
    assert.ok(thrown instanceof Error && thrown.name === "NonErrorThrown");
    assert.equal(thrown.message, '{"reason":"x"}');
  }
});

Deno.test("findUnsendable names the part that cannot be copied", () => {
  const probe = (v: unknown) => void structuredClone(v);
  assert.equal(findUnsendable({ a: [1, { b: 2 }] }, probe, "input"), undefined);
  assert.equal(findUnsendable({ a: [1, { b: () => 1 }] }, probe, "input")?.path, "input.a[1].b");
  assert.equal(findUnsendable(Symbol("s"), probe, "result")?.path, "result");
  const inMap = findUnsendable(new Map([["k", { f: Symbol("x") }]]), probe, "init");
  assert.equal(inMap?.path, 'init.get("k").f');
  assert.equal(typeof inMap?.value, "symbol");
  const err = new CloneError("send input #0", "input.f", "cannot be sent to worker 0: no", 1n);
  assert.ok(err instanceof CloneError && err.path === "input.f");
  assert.equal(
    err.message,
    "Cannot send input #0: input.f cannot be sent to worker 0: no, received 1n",
  );
  // without a received value, the message still has the project's form
  assert.equal(
    new CloneError("send input #0", "input", "cannot be sent").message,
    "Cannot send input #0: input cannot be sent, received undefined",
  );
});

Deno.test("pool errors follow the message form: the input, the init arguments or the worker as received", () => {
  const cause = new RangeError("bad");
  const task = new TaskError(3, 1, cause, { id: 7 });
  assert.equal(
    task.message,
    'Cannot process input #3: worker 1 threw RangeError: bad, received {"id":7}',
  );
  assert.deepEqual(task.received, { id: 7 });
  assert.equal(task.cause, cause);
  const init = new WorkerInitError(0, cause, { model: "m" });
  assert.equal(
    init.message,
    'Cannot start worker pool: worker 0 failed to initialise: RangeError: bad, received {"model":"m"}',
  );
  const crash = new WorkerCrashError(2, "the worker called Deno.exit(3)");
  assert.equal(
    crash.message,
    "Cannot keep a worker running: the worker called Deno.exit(3), received worker 2",
  );
  assert.equal(crash.received, 2);
  const dispose = new WorkerDisposeError(1, cause);
  assert.equal(
    dispose.message,
    "Cannot dispose of a worker: dispose() threw RangeError: bad, received worker 1",
  );
  // a non-error cause (a hand-built error) is described, not read as `undefined: undefined`
  assert.match(new WorkerDisposeError(0, "oops" as never).message, /dispose\(\) threw "oops"/);
});
