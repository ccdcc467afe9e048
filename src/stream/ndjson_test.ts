import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { FileAccessError, NdjsonParseError } from "./errors.ts";
import { lines } from "./lines.ts";
import { ndjson, toNdjson, writeNdjson } from "./ndjson.ts";
import { lengthOf } from "./sized.ts";
import { collect, endless, tracked } from "../../tests/stream_helpers.ts";

Deno.test("ndjson parses lines, skipping blank ones", async () => {
  const out = await collect(ndjson(['{"a":1}', "  ", "[1,2]", '"s"', "null", "3"]));
  assert.deepEqual(out, [{ a: 1 }, [1, 2], "s", null, 3]);
});

Deno.test("ndjson: a bad line throws NdjsonParseError naming its line number", async () => {
  const [src, track] = tracked(['{"ok":1}', "", '{"ok":2}', "{oops", '{"never":1}']);
  const seen: unknown[] = [];
  await assert.rejects(async () => {
    for await (const v of ndjson(src)) seen.push(v);
  }, (e) => {
    assert.ok(e instanceof NdjsonParseError);
    assert.equal(e.line, 4);
    assert.equal(e.text, "{oops");
    assert.match(e.message, /^Cannot parse NDJSON: line 4 is not valid JSON/);
    assert.ok(e.cause instanceof SyntaxError);
    return true;
  });
  assert.deepEqual(seen, [{ ok: 1 }, { ok: 2 }]);
  assert.equal(track.returned, true, "the line source was returned");
});

Deno.test("ndjson: early break returns the source; non-strings and strings are refused", async () => {
  const [src, track] = endless();
  const asJson = (async function* () {
    for await (const n of src) yield String(n);
  })();
  for await (const _ of ndjson(asJson)) break;
  assert.equal(track.returned, true);
  assert.throws(() => ndjson("{}\n{}" as never), InvalidArgumentError);
  await assert.rejects(collect(ndjson([1 as never])), InvalidArgumentError);
});

Deno.test("toNdjson and writeNdjson round-trip through lines + ndjson", async () => {
  const values = [{ t: 1, v: [1.5, "x"] }, "é\nnewline inside", null, 42];
  assert.deepEqual(
    await collect(toNdjson(values)),
    values.map((v) => JSON.stringify(v) + "\n"),
  );
  assert.equal(lengthOf(toNdjson(values)), 4);
  const path = await Deno.makeTempFile({ prefix: "spool-ndjson-" });
  try {
    assert.equal(await writeNdjson(path, values), 4);
    assert.deepEqual(await collect(ndjson(lines(path))), values);
    assert.equal(await writeNdjson(path, [{ more: true }], { append: true, sync: true }), 1);
    assert.deepEqual((await collect(ndjson(lines(path)))).length, 5);
    // a value without a JSON form: the records before it are written, the error names its index
    await assert.rejects(
      writeNdjson(path, [1, 2, undefined, 4]),
      (e) => e instanceof InvalidArgumentError && /item 2/.test(e.message),
    );
    assert.deepEqual(await collect(ndjson(lines(path))), [1, 2]);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("writeNdjson returns its source when it fails midway", async () => {
  const path = await Deno.makeTempFile({ prefix: "spool-ndjson-" });
  const [src, track] = endless();
  const mapped = (async function* () {
    for await (const n of src) yield n < 3 ? n : () => {};
  })();
  try {
    await assert.rejects(writeNdjson(path, mapped), InvalidArgumentError);
    assert.equal(track.returned, true);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("writeNdjson returns its source when the file cannot be opened", async () => {
  let returned = false;
  const source = {
    [Symbol.asyncIterator]() {
      return {
        next: () => Promise.resolve({ done: false as const, value: 1 }),
        return: () => {
          returned = true;
          return Promise.resolve({ done: true as const, value: undefined });
        },
      };
    },
  };
  const dir = await Deno.makeTempDir({ prefix: "spool-ndjson-" });
  try {
    const path = `${dir}/missing/out.ndjson`;
    await assert.rejects(writeNdjson(path, source), (e: unknown) => {
      assert.ok(e instanceof FileAccessError);
      assert.equal(e.path, path);
      assert.match(e.message, /^Cannot write NDJSON: the file does not exist/);
      assert.ok(e.cause instanceof Deno.errors.NotFound);
      return true;
    });
    assert.equal(returned, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeNdjson to a directory is a FileAccessError naming the path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-ndjson-" });
  try {
    await assert.rejects(writeNdjson(dir, [1]), (e: unknown) => {
      assert.ok(e instanceof FileAccessError);
      assert.equal(e.path, dir);
      assert.match(e.message, /directory/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("toNdjson: early break returns the source", async () => {
  const [src, track] = endless();
  for await (const line of toNdjson(src)) {
    assert.equal(line, "0\n");
    break;
  }
  assert.equal(track.returned, true);
});

Deno.test("toNdjson/writeNdjson: a bigint or a cycle is an InvalidArgumentError naming the item and where; a toJSON's own error passes", async () => {
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = { back: cycle };
  const cases: [unknown, RegExp][] = [
    [1n, /^Cannot serialize NDJSON: item 1 has no JSON form: a bigint, received 1n$/],
    [
      { a: [0, { "b-c": 2n }] },
      /item 1 has no JSON form: a bigint at \.a\[1\]\["b-c"\], received /,
    ],
    [cycle, /item 1 has no JSON form: a cycle \(the value contains itself\) at \.self\.back, /],
  ];
  for (const [value, pattern] of cases) {
    await assert.rejects(
      async () => {
        for await (const _ of toNdjson([{ ok: 1 }, value])) { /* consume */ }
      },
      (e: unknown) =>
        e instanceof InvalidArgumentError && pattern.test(e.message) &&
        e.cause instanceof TypeError,
    );
  }
  const path = await Deno.makeTempFile();
  try {
    await assert.rejects(
      () => writeNdjson(path, [{ ok: 1 }, 1n]),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /item 1 has no JSON form: a bigint/.test(e.message),
    );
  } finally {
    await Deno.remove(path);
  }
  // the user's own error from toJSON is not rewritten, even when it is a TypeError
  const mine = new TypeError("my toJSON failed");
  await assert.rejects(async () => {
    for await (
      const _ of toNdjson([{
        toJSON: () => {
          throw mine;
        },
      }])
    ) { /* consume */ }
  }, (e: unknown) => e === mine);
  // a value reached twice without a cycle is fine
  const shared = { n: 1 };
  let text = "";
  for await (const line of toNdjson([{ x: shared, y: shared }])) text += line;
  assert.equal(text, '{"x":{"n":1},"y":{"n":1}}\n');
});
