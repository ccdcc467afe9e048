import assert from "node:assert/strict";
import { serialize } from "node:v8";
import { InvalidArgumentError } from "../../errors.ts";
import {
  checkPoolName,
  decodeResult,
  decodeTask,
  encodeResult,
  encodeTask,
  mapConsumer,
  poolNames,
  ResultGate,
  resultMsgId,
  resultsSubject,
  taskMsgId,
  tasksSubject,
} from "./protocol.ts";

Deno.test("a pool's stream, subjects, consumer and dedup ids follow the protocol table", () => {
  assert.deepEqual(poolNames("img"), {
    stream: "spool_img_tasks",
    tasks: "spool.img.tasks.>",
    consumer: "spool_img_workers",
    resultStream: "spool_img_results",
    results: "spool.img.results.>",
    advisoryStream: "spool_img_advisories",
    advisories: "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.spool_img_tasks.spool_img_workers",
  });
  assert.equal(mapConsumer("img", "m1"), "spool_img_map_m1");
  assert.equal(resultMsgId("m1", 7), "r.m1.7");
  assert.equal(tasksSubject("img", "m1"), "spool.img.tasks.m1");
  assert.equal(resultsSubject("img", "m1"), "spool.img.results.m1");
  assert.equal(taskMsgId("m1", 7), "m1.7");
});

Deno.test("a pool name that would break a subject or stream name is an InvalidArgumentError", () => {
  for (const bad of ["", "a.b", "a b", "a*", ">", 3, undefined, "x".repeat(65)]) {
    assert.throws(() => checkPoolName("start", bad), InvalidArgumentError);
  }
  assert.equal(checkPoolName("start", "ok_pool-1"), "ok_pool-1");
});

Deno.test("task and result bodies round-trip through v8 serialization", () => {
  const items = [1, { a: [2n, new Uint8Array([3])] }, new Date(0)];
  assert.deepEqual(decodeTask(encodeTask(1, items)), [1, items]);
  assert.deepEqual(decodeResult(encodeResult(2.5, ["x", { e: 1 }], [1])), [2.5, ["x", { e: 1 }], [
    1,
  ]]);
  assert.deepEqual(decodeResult(encodeResult(0, [], 0)), [0, [], 0]);
});

Deno.test("a malformed task or result body is an InvalidArgumentError", () => {
  for (const bad of ["x", [1, "items"], ["1", []], null]) {
    assert.throws(() => decodeTask(serialize(bad)), InvalidArgumentError);
  }
  for (const bad of ["x", [1, [], 5], [1, "values", 0], [1, []]]) {
    assert.throws(() => decodeResult(serialize(bad)), InvalidArgumentError);
  }
});

Deno.test("the result gate gives a chunk once: a second result (redelivered task) is dropped and counted", () => {
  const gate = new ResultGate<string>();
  gate.open(1, "c1");
  gate.open(2, "c2");
  assert.equal(gate.size, 2);
  assert.equal(gate.take(2), "c2");
  assert.equal(gate.take(2), undefined);
  assert.equal(gate.take(9), undefined);
  assert.equal(gate.dropped, 2);
  assert.ok(gate.has(1));
  gate.forget(1);
  assert.ok(!gate.has(1));
  assert.equal(gate.size, 0);
});
