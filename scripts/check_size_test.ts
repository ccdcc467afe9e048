import assert from "node:assert/strict";
import {
  ALLOW_LIST,
  checkSize,
  MAX_FILE_LINES,
  MAX_FUNCTION_LINES,
  measure,
  readAllowList,
} from "./check_size.ts";
import { runScript, type Tree, withTree } from "./_tree.ts";

/** `count` lines of filler statements, each indented by `indent`. */
function filler(count: number, indent = "  "): string {
  return Array.from({ length: count }, (_, i) => `${indent}void ${i};\n`).join("");
}

/** A function declaration whose body (from `{` to `}`) has exactly `lines` lines. */
function fn(name: string, lines: number): string {
  return `export function ${name}() {\n${filler(lines - 2)}}\n`;
}

/** A file of exactly `lines` lines. */
function fileOf(lines: number): string {
  return filler(lines, "");
}

async function violationsOf(files: Tree, allow?: Record<string, string>): Promise<string[]> {
  const tree = allow ? { ...files, [ALLOW_LIST]: JSON.stringify(allow) } : files;
  let found: string[] = [];
  await withTree(tree, async (root) => {
    found = [...(await checkSize(root)).violations];
  });
  return found;
}

Deno.test("files and functions at the limits pass", async () => {
  assert.deepEqual(
    await violationsOf({
      "src/stream/long.ts": fileOf(MAX_FILE_LINES),
      "src/stream/fn.ts": fn("atLimit", MAX_FUNCTION_LINES),
    }),
    [],
  );
});

Deno.test("a file over the line limit fails", async () => {
  assert.deepEqual(await violationsOf({ "src/stream/long.ts": fileOf(MAX_FILE_LINES + 1) }), [
    `src/stream/long.ts: ${MAX_FILE_LINES + 1} lines (limit ${MAX_FILE_LINES})`,
  ]);
});

Deno.test("tests and test data are not measured", async () => {
  assert.deepEqual(
    await violationsOf({
      "src/stream/long_test.ts": fileOf(MAX_FILE_LINES + 1),
      "src/stream/testdata/long.ts": fileOf(MAX_FILE_LINES + 1),
    }),
    [],
  );
});

Deno.test("a function body over the limit fails, named by its key and line", async () => {
  assert.deepEqual(
    await violationsOf({
      "src/stream/fn.ts": `// header\n${fn("tooLong", MAX_FUNCTION_LINES + 1)}`,
    }),
    [`src/stream/fn.ts#tooLong: body of 81 lines (limit ${MAX_FUNCTION_LINES}), line 2`],
  );
});

Deno.test("methods, constructors, accessors, arrows and nested functions are measured", () => {
  const long = filler(MAX_FUNCTION_LINES - 1, "    ");
  const text = [
    "export class Run {",
    `  constructor() {\n${long}  }`,
    `  #step() {\n${long}  }`,
    `  get size() {\n${long}    return 1;\n  }`,
    `  [Symbol.iterator]() {\n${long}  }`,
    `  handler = () => {\n${long}  };`,
    "}",
    "export function outer() {",
    `  function inner() {\n${long}  }`,
    `  [1].map((x) => {\n${long}  });`,
    `  [2].map(function () {\n${long}  });`,
    "  return inner;",
    "}",
    `export const arrow = async () => {\n${long}};`,
    `export const table = {\n  run() {\n${long}  },\n};`,
  ].join("\n");
  const keys = measure({ path: "src/x/y.ts", text }).functions
    .filter((f) => f.lines > MAX_FUNCTION_LINES).map((f) => f.key.slice("src/x/y.ts#".length));
  assert.deepEqual(keys, [
    "Run.constructor",
    "Run.#step",
    "Run.get size",
    "Run.[Symbol.iterator]",
    "Run.handler",
    "outer",
    "outer/inner",
    "outer/(anonymous)",
    "outer/(anonymous)@2",
    "arrow",
    "table.run",
  ]);
});

Deno.test("a function's length runs from its body's { to its }, signature and JSDoc apart", () => {
  const text = [
    "/**",
    " * JSDoc lines do not count.",
    " */",
    "export function spread(",
    "  a: number,",
    "  b: number,",
    "): number {",
    "  return a + b;",
    "}",
    "export const short = (x: number) =>",
    "  x + 1;",
  ].join("\n");
  const sizes = measure({ path: "src/x/y.ts", text }).functions;
  assert.deepEqual(sizes.map((f) => [f.key, f.line, f.lines]), [
    ["src/x/y.ts#spread", 4, 3],
    ["src/x/y.ts#short", 10, 1],
  ]);
});

Deno.test("allow-list entries exempt a file's length and a function's length", async () => {
  const files = {
    "src/stream/long.ts": fileOf(MAX_FILE_LINES + 1),
    "src/stream/fn.ts": fn("tooLong", MAX_FUNCTION_LINES + 10),
  };
  assert.deepEqual(
    await violationsOf(files, {
      "src/stream/long.ts": "being split",
      "src/stream/fn.ts#tooLong": "being split",
    }),
    [],
  );
});

Deno.test("a file's allow-list entry does not exempt its functions", async () => {
  const text = fn("tooLong", MAX_FUNCTION_LINES + 1) + fileOf(MAX_FILE_LINES);
  assert.deepEqual(
    await violationsOf({ "src/stream/long.ts": text }, { "src/stream/long.ts": "being split" }),
    [`src/stream/long.ts#tooLong: body of 81 lines (limit ${MAX_FUNCTION_LINES}), line 1`],
  );
});

Deno.test("a stale allow-list entry fails, so the list only shrinks", async () => {
  const found = await violationsOf({
    "src/stream/short.ts": fn("fits", 10),
  }, {
    "src/stream/short.ts": "was long once",
    "src/stream/short.ts#fits": "was long once",
    "src/stream/short.ts#gone": "was split away",
    "src/stream/removed.ts": "was deleted",
  });
  assert.deepEqual(found, [
    `${ALLOW_LIST}: "src/stream/short.ts" is stale: 10 lines now (limit 500); remove the entry`,
    `${ALLOW_LIST}: "src/stream/short.ts#fits" is stale: 10 lines now (limit 80); remove the entry`,
    `${ALLOW_LIST}: "src/stream/short.ts#gone" is stale: no such function; remove the entry`,
    `${ALLOW_LIST}: "src/stream/removed.ts" is stale: no such library file; remove the entry`,
  ]);
});

Deno.test("an allow-list entry needs a one-line justification", async () => {
  await withTree({ [ALLOW_LIST]: '{ "src/a/b.ts": "" }' }, async (root) => {
    await assert.rejects(() => readAllowList(root), /needs a one-line justification/);
  });
  await withTree({ [ALLOW_LIST]: '["src/a/b.ts"]' }, async (root) => {
    await assert.rejects(() => readAllowList(root), /must be an object/);
  });
  await withTree({}, async (root) => {
    assert.equal((await readAllowList(root)).size, 0);
  });
});

Deno.test("the script exits 1 with one line per violation, and 0 on a good tree", async () => {
  await withTree({ "src/stream/ok.ts": fn("fits", 10) }, async (root) => {
    const good = await runScript("./check_size.ts", root);
    assert.equal(good.code, 0, good.lines.join("\n"));
    assert.match(good.lines.at(-1)!, /^size: ok \(1 files under .*, 0 allow-list entries\)$/);
  });
  await withTree({ "src/stream/bad.ts": fn("tooLong", 100) }, async (root) => {
    const bad = await runScript("./check_size.ts", root);
    assert.equal(bad.code, 1, bad.lines.join("\n"));
    assert.deepEqual(bad.lines.slice(0, -1), [
      "src/stream/bad.ts#tooLong: body of 100 lines (limit 80), line 1",
    ]);
    assert.match(bad.lines.at(-1)!, /^size: 1 violation\(s\)/);
  });
});
