// Bad input to the pipeline's public entry points: typed errors naming what is wrong, never a
// silent change (an option ignored, a guarantee disabled, a value a checkpoint cannot keep).
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { CheckpointError, Graph, Pipeline, PipelineBuildError } from "./mod.ts";
import { fileSink, jsonDecode, jsonEncode, lineSource } from "./nodes.ts";
import { consumeSink } from "./run.ts";
import { FileAccessError } from "../stream/errors.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// deno-lint-ignore no-explicit-any
type Class = new (...args: any[]) => Error;
/** An error check for assert.throws/rejects: this class, with a message matching `pattern`. */
function is(cls: Class, pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    assert.match(e.message, pattern);
    return true;
  };
}

function simple(): Pipeline {
  const p = new Pipeline();
  p.source("s");
  p.node("a", { inputs: ["s"], fn: (x: number) => x + 1 });
  return p;
}

const withDir = (fn: (dir: string) => void | Promise<void>) =>
  withTempDir(fn, "spool-pipeline-bad-");

Deno.test("node specs: unknown fields are refused with the known ones listed", () => {
  const p = new Pipeline();
  p.source("s");
  const fn = (x: number) => x;
  assert.throws(
    () => p.node("a", { inputs: ["s"], fn, consumes: 2 } as never),
    is(
      InvalidArgumentError,
      /unknown node field "consumes" \(known: inputs, consume, produce, repeat, spawn, errors/,
    ),
  );
  assert.throws(
    () => p.node("a", { inputs: ["s"], fn, timeoutMs: 100 } as never),
    is(InvalidArgumentError, /unknown node field "timeoutMs"/),
  );
  // A field of another kind is not silently ignored either.
  assert.throws(
    () => p.node("a", { inputs: ["s"], fn, ordered: false } as never),
    is(
      InvalidArgumentError,
      /unknown function node field "ordered" \(known: inputs, consume, produce, repeat, spawn, errors, fn\)/,
    ),
  );
  const pool = { map: () => [] } as never;
  assert.throws(
    () => p.node("a", { inputs: ["s"], pool, chunkSize: 0 }),
    is(InvalidArgumentError, /chunkSize/),
  );
  assert.throws(
    () => p.node("a", { inputs: ["s"], pool, maxInFlight: "4" } as never),
    is(InvalidArgumentError, /maxInFlight must be an integer >= 1/),
  );
  assert.ok(!p.graph.has("a"));
});

Deno.test("Pipeline, remove, Graph.removeNode: unknown keys and wrong types are refused", () => {
  assert.throws(
    () => new Pipeline({ bufer: 4 } as never),
    is(InvalidArgumentError, /unknown option "bufer" \(known: buffer, sinkBuffer, logger, fuse\)/),
  );
  assert.throws(() => new Pipeline({ fuse: "no" } as never), is(InvalidArgumentError, /fuse/));
  assert.throws(() => new Pipeline({ logger: 5 } as never), is(InvalidArgumentError, /logger/));
  assert.throws(() => new Pipeline(null as never), is(InvalidArgumentError, /options must be/));
  const p = simple();
  assert.throws(
    () => p.remove("a", { forced: true } as never),
    is(InvalidArgumentError, /"forced"/),
  );
  assert.throws(() => p.remove("a", { force: 1 } as never), is(InvalidArgumentError, /force/));
  const g = new Graph().addNode("x");
  assert.throws(
    () => g.removeNode("x", { forse: true } as never),
    is(InvalidArgumentError, /forse/),
  );
});

Deno.test("run / runToCompletion / wait: unknown keys and wrong types are refused", async () => {
  const p = simple();
  const s = { s: [1] };
  assert.throws(
    () => p.run(s, { checkpointevery: { items: 1 } } as never),
    is(
      InvalidArgumentError,
      /unknown option "checkpointevery" \(known: signal, store, checkpointEvery, keep, stateName, logger\)/,
    ),
  );
  assert.throws(() => p.run(s, { signal: {} } as never), is(InvalidArgumentError, /AbortSignal/));
  assert.throws(() => p.run(s, { logger: "x" } as never), is(InvalidArgumentError, /logger/));
  assert.throws(() => p.run(s, { store: 5 } as never), is(InvalidArgumentError, /store must be/));
  assert.throws(
    () => p.run(s, { store: "/tmp/x", stateName: "" }),
    is(InvalidArgumentError, /stateName/),
  );
  assert.throws(
    () => p.run(s, { store: "/tmp/x", checkpointEvery: { item: 5 } } as never),
    is(InvalidArgumentError, /unknown option "item" \(known: items, ms\)/),
  );
  await assert.rejects(
    p.runToCompletion(s, { sink: {} } as never),
    is(InvalidArgumentError, /unknown option "sink"/),
  );
  await assert.rejects(
    p.runToCompletion(s, { track: "a" } as never),
    is(InvalidArgumentError, /track must be an array/),
  );
  const run = p.run(s);
  await assert.rejects(run.wait({ timeout: 5 } as never), is(InvalidArgumentError, /"timeout"/));
  await assert.rejects(run.wait({ timeoutMs: Infinity }), is(InvalidArgumentError, /timeoutMs/));
  for await (const _ of run.outputs.a!) { /* drain */ }
  await run.done;
});

Deno.test("runToCompletion: a sink consumer that is not a function is refused before the run", async () => {
  const p = simple();
  await assert.rejects(
    p.runToCompletion({ s: [1] }, { sinks: { a: 5 } as never }),
    is(InvalidArgumentError, /the consumer of sink "a" must be a function/),
  );
  await assert.rejects(
    p.runToCompletion({ s: [1] }, { sinks: 5 } as never),
    is(InvalidArgumentError, /sinks must be an object/),
  );
});

Deno.test("keep: 0 (and keep with a StateStore) is refused: it would disable resume", async () => {
  await withDir(async (dir) => {
    const p = simple();
    assert.throws(
      () => p.run({ s: [1] }, { store: dir, keep: 0 }),
      is(InvalidArgumentError, /keep must be an integer >= 1, received 0/),
    );
    await using store = new StateStore(dir);
    assert.throws(
      () => p.run({ s: [1] }, { store, keep: 2 }),
      is(InvalidArgumentError, /keep applies to a directory store/),
    );
  });
});

Deno.test("a state that cannot be copied is refused at node(); one JSON would change, at run with a store", async () => {
  const p = new Pipeline();
  p.source("s");
  const fn = (_: unknown, x: number) => x;
  assert.throws(
    () => p.node("k", { inputs: ["s"], state: { n: 0, f: () => 1 }, fn }),
    is(InvalidArgumentError, /the state cannot be copied per run/),
  );
  assert.throws(
    () => p.node("k", { inputs: ["s"], state: () => 1, fn }),
    is(InvalidArgumentError, /the state cannot be copied per run/),
  );
  p.node("k", { inputs: ["s"], state: { n: 0, when: new Date(0) }, fn });
  // Without a store nothing is encoded: the Date stays a Date.
  const r = await p.runToCompletion({ s: [1] });
  assert.ok((r.states.k as { when: unknown }).when instanceof Date);
  await withDir(async (dir) => {
    // A JSON state, a typed array, typed-array fields, or no state at all are fine.
    for (const state of [{ a: [1, "x", null, { b: true }] }, new Int32Array(2), undefined]) {
      const q = new Pipeline();
      q.source("s");
      q.node("k", { inputs: ["s"], state, fn });
      const r = await q.runToCompletion({ s: [1] }, {
        store: `${dir}/${typeof state}${state ? state.constructor.name : ""}`,
      });
      assert.deepEqual(r.states.k, state);
    }
    assert.throws(
      () => p.run({ s: [1] }, { store: dir }),
      is(
        InvalidArgumentError,
        /the state of node "k" would not survive a checkpoint unchanged: state.when is a Date/,
      ),
    );
  });
});

Deno.test("a state that turns into something JSON would change fails the checkpoint (CheckpointError)", async () => {
  for (
    const [bad, pattern] of [
      [NaN, /state.v is NaN; JSON cannot keep it/],
      [new Map(), /state.v is a Map/],
      [[1, undefined], /state.v\[1\] is undefined/],
    ] as const
  ) {
    await withDir(async (dir) => {
      const p = new Pipeline();
      p.source("s");
      p.node("k", {
        inputs: ["s"],
        state: { v: 0 as unknown },
        fn: (st: { v: unknown }, x: number) => {
          if (x === 3) st.v = bad;
          return x;
        },
      });
      await assert.rejects(
        p.runToCompletion({ s: range(20) }, { store: dir, checkpointEvery: { items: 5 } }),
        is(CheckpointError, pattern),
      );
    });
  }
});

Deno.test("an item held in a partial group that JSON would change fails the checkpoint", async () => {
  await withDir(async (dir) => {
    const p = new Pipeline();
    p.source("s");
    p.node("g", { inputs: ["s"], consume: 4, fn: (g: unknown[]) => g.length });
    await assert.rejects(
      p.runToCompletion({ s: [new Date(0), 1, 2, 3, 4, 5, 6] }, {
        store: dir,
        checkpointEvery: { items: 2 },
      }),
      is(CheckpointError, /an item held in the node \(group\[0\] is a Date/),
    );
  });
});

Deno.test("a checkpoint path that is a file or cannot be created gives the store's typed error", async () => {
  const file = await Deno.makeTempFile();
  try {
    for (const store of [file, `${file}/sub`]) {
      await assert.rejects(
        simple().runToCompletion({ s: [1] }, { store }),
        (e: unknown) =>
          e instanceof InvalidArgumentError && /^Cannot open the state store: /.test(e.message) &&
          e.message.includes(file),
      );
    }
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("a forced remove never leaves a node without inputs; a graph changed directly is refused", async () => {
  const p = new Pipeline();
  p.source("s");
  p.node("a", { inputs: ["s"], fn: (x: number) => x });
  p.node("b", { inputs: ["a"], fn: (x: number) => x });
  p.node("c", { inputs: ["a", "s"], fn: (...xs: number[]) => xs.join() });
  assert.throws(
    () => p.remove("a", { force: true }),
    is(PipelineBuildError, /node "b" would be left without inputs \(remove it first\)/),
  );
  assert.ok(p.graph.has("a") && p.graph.inputsOf("c").join() === "a,s"); // nothing changed
  p.remove("b");
  p.remove("a", { force: true }); // c keeps its other input
  const r = await p.runToCompletion({ s: [1, 2] });
  assert.deepEqual(r.outputs.c, ["1", "2"]); // c now reads s only

  const q = simple();
  q.node("b", { inputs: ["a"], fn: (x: number) => x });
  q.graph.removeEdge("a", "b");
  assert.throws(
    () => q.run({ s: [1] }),
    is(PipelineBuildError, /a node has no inputs, received "b"/),
  );
});

Deno.test("fileSink: unknown options and wrong types are refused", () => {
  assert.throws(
    () => fileSink("/tmp/x", { ext: ".txt" } as never),
    is(InvalidArgumentError, /"ext"/),
  );
  assert.throws(
    () => fileSink("/tmp/x", { encode: 1 } as never),
    is(InvalidArgumentError, /encode/),
  );
  assert.throws(
    () => fileSink("/tmp/x", { extension: 1 } as never),
    is(InvalidArgumentError, /extension/),
  );
});

Deno.test("jsonEncode/jsonDecode: JSON's refusals are typed; a toJSON's own error passes through", () => {
  const enc = jsonEncode();
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assert.throws(() => enc(1n), is(InvalidArgumentError, /no JSON form \(.*BigInt/));
  assert.throws(() => enc(cycle), is(InvalidArgumentError, /no JSON form \(.*circular/));
  const own = new TypeError("mine");
  assert.throws(
    () =>
      enc({
        toJSON() {
          throw own;
        },
      }),
    (e) => e === own,
  );
  const dec = jsonDecode();
  assert.throws(() => dec("{bad"), (e) => {
    is(InvalidArgumentError, /^Cannot decode JSON: the text is not JSON .*, received "\{bad"$/)(e);
    return (e as Error).cause instanceof SyntaxError;
  });
  assert.throws(() => dec(42 as never), is(InvalidArgumentError, /must be a string/));
});

Deno.test("lineSource: the resume position must be an integer >= 0", () => {
  for (const bad of ["1", -1, 1.5, Infinity, NaN]) {
    assert.throws(
      () => lineSource("/no/such/file")(bad as never),
      is(InvalidArgumentError, /^Cannot read a line source: position must be an integer >= 0/),
    );
  }
});

Deno.test("fileSink: seq, encode's result, extension and a dir that is a file are checked", async () => {
  await withDir(async (dir) => {
    const sink = fileSink(`${dir}/out`);
    for (const seq of [-1, 1.5, NaN, undefined]) {
      await assert.rejects(sink("x", { seq } as never), is(InvalidArgumentError, /seq must be/));
    }
    await assert.rejects(sink(undefined, { seq: 0 }), is(InvalidArgumentError, /no JSON form/));
    await assert.rejects(
      fileSink(`${dir}/out`, { encode: () => 42 as never })("x", { seq: 0 }),
      is(InvalidArgumentError, /encode must return a string, received 42/),
    );
    // The user's own encode error passes through unchanged.
    const own = new Error("mine");
    await assert.rejects(
      fileSink(`${dir}/out`, {
        encode: () => {
          throw own;
        },
      })("x", { seq: 0 }),
      (e) => e === own,
    );
    assert.throws(
      () => fileSink(`${dir}/out`, { extension: "/../x" }),
      is(InvalidArgumentError, /path separator/),
    );
    await Deno.writeTextFile(`${dir}/file`, "");
    await assert.rejects(
      fileSink(`${dir}/file`)("x", { seq: 0 }),
      is(FileAccessError, /the path is a file, not a directory/),
    );
    await assert.rejects(
      fileSink(`${dir}/file/below`)("x", { seq: 0 }),
      is(FileAccessError, /not a directory/),
    );
    // The refused calls wrote nothing (the directory was not even created).
    await assert.rejects(Deno.stat(`${dir}/out`), Deno.errors.NotFound);
  });
});

Deno.test("PipelineRun.consume: an unknown sink or a consumer that is not a function is refused", async () => {
  const run = simple().run({ s: [1, 2, 3] });
  await assert.rejects(consumeSink(run, "nope"), is(InvalidArgumentError, /no sink has this name/));
  await assert.rejects(consumeSink(run, "a", 42 as never), is(InvalidArgumentError, /fn/));
  // Neither refused call took the sink: it is still read normally.
  const out: unknown[] = [];
  await consumeSink(run, "a", (x) => void out.push(x));
  await run.done;
  assert.deepEqual(out, [2, 3, 4]);
});

Deno.test("a paused run with checkpointEvery.ms writes no identical checkpoints", async () => {
  await withDir(async (dir) => {
    let checkpoints = 0;
    const p = new Pipeline({ buffer: 2, sinkBuffer: 2 });
    p.source("s");
    p.node("k", {
      inputs: ["s"],
      state: { n: 0 },
      fn: (st: { n: number }, x: number) => (st.n += x),
    });
    async function* slow() {
      for (let i = 0; i < 200; i++) {
        await new Promise((r) => setTimeout(r, 1));
        yield i;
      }
    }
    const run = p.run({ s: slow() }, {
      store: dir,
      checkpointEvery: { ms: 5 },
      logger: (e) => {
        if (e.type === "checkpoint") checkpoints++;
      },
    });
    const it = run.outputs.k![Symbol.asyncIterator]();
    for (let i = 0; i < 20; i++) await it.next();
    run.pause();
    const atPause = checkpoints;
    // Drain what was read before the pause (the reader then waits: the run is paused).
    const reading = (async () => {
      let n = 20;
      while (!(await it.next()).done) n++;
      return n;
    })();
    let whilePaused: number;
    try {
      await new Promise((r) => setTimeout(r, 200)); // 40 periods of 5 ms
      whilePaused = checkpoints - atPause;
    } finally {
      run.resume();
    }
    // At most the checkpoint in flight at the pause and the one covering the last items read.
    assert.ok(whilePaused <= 2, `checkpoints while paused: ${whilePaused}`);
    const n = await reading;
    await run.done;
    assert.equal(n, 200);
    assert.equal(run.state<{ n: number }>("k").n, (199 * 200) / 2);
  });
});
