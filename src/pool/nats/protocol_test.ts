import assert from "node:assert/strict";
import { serialize } from "node:v8";
import { InvalidArgumentError } from "../../errors.ts";
import {
  checkPoolName,
  chunkRange,
  decodeResult,
  decodeTask,
  encodeResult,
  encodeTask,
  keyId,
  mapConsumer,
  markerSubject,
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
  assert.equal(chunkRange(40, 5), "40.5");
  assert.equal(taskMsgId("m1", chunkRange(40, 5)), "m1.40.5");
  assert.equal(resultMsgId("m1", chunkRange(40, 5)), "r.m1.40.5");
  assert.equal(markerSubject("img", "k-b1"), "spool.img.results.k-b1.run");
});

Deno.test("a map key becomes a subject-safe id: kept when safe, hashed otherwise, never empty", () => {
  assert.equal(keyId("map", "batch-42"), "k-batch-42");
  const hashed = keyId("map", "batch 42/x.y");
  assert.match(hashed, /^h-[0-9a-f]{32}$/);
  assert.equal(keyId("map", "batch 42/x.y"), hashed);
  assert.notEqual(keyId("map", "batch 43/x.y"), hashed);
  assert.match(keyId("map", "x".repeat(65)), /^h-[0-9a-f]{32}$/);
  for (const bad of ["", 3, null, undefined, {}]) {
    assert.throws(() => keyId("map", bad), InvalidArgumentError);
  }
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
  gate.open("0.1", "c1");
  gate.open("1.1", "c2");
  assert.equal(gate.size, 2);
  assert.equal(gate.take("1.1", "r"), "c2");
  assert.equal(gate.take("1.1", "r"), undefined);
  assert.equal(gate.take("9.1", "r"), undefined);
  assert.equal(gate.dropped, 2);
  assert.equal(gate.stale, 0);
  assert.ok(gate.has("0.1"));
  gate.forget("0.1");
  assert.ok(!gate.has("0.1"));
  assert.equal(gate.size, 0);
});

Deno.test("a keyed map's gate keeps a result that comes before its range is opened, once", () => {
  const gate = new ResultGate<string, string>(true);
  assert.equal(gate.take("0.2", "early"), undefined);
  assert.equal(gate.take("0.2", "again"), undefined); // a duplicate of a kept one
  assert.equal(gate.take("5.1", "other chunking"), undefined);
  assert.equal(gate.dropped, 1);
  assert.equal(gate.stale, 2);
  assert.equal(gate.open("0.2", "c0"), "early");
  assert.equal(gate.take("0.2", "early"), "c0");
  assert.equal(gate.open("2.2", "c2"), undefined);
  assert.equal(gate.stale, 1); // 5.1: never opened
});
