/** Sweep rows of the loop area (`StatefulLoop`). */

import { Frame, StatefulLoop } from "../../mod.ts";
import {
  type Case,
  type Ctx,
  dirPathCases,
  int,
  num,
  optionCases,
  type Row,
  sourceCases,
  userError,
  wrongTypes,
} from "./harness.ts";

/** A fresh loop in the shared temp dir, closed after the case. */
async function open(ctx: Ctx): Promise<StatefulLoop> {
  const loop = await StatefulLoop.open(ctx.fresh("loop"));
  ctx.defer(() => loop.close());
  return loop;
}

const frame = () => new Frame({ v: new Float64Array(4) });

/** Call `loop.buffer(...args)` inside the body of an iterate loop. */
function inBody(args: (step: { final: boolean; item: unknown }) => unknown[]) {
  return async (ctx: Ctx) => {
    const loop = await open(ctx);
    for await (const step of loop.iterate([frame()])) {
      (loop.buffer as (...a: unknown[]) => unknown)(...args(step));
    }
  };
}

function bufferCases(): Case[] {
  return [
    ...wrongTypes("buffer(site)", (site) => inBody(() => [site, undefined]), [
      ["undefined", undefined],
      ['""', ""],
      ["42", 42],
    ]),
    ...optionCases(
      (o) => inBody((s) => ["s", s.final ? undefined : { v: s.item }, o]),
      { memoryLimitMb: num(0), adapter: "object" },
      {},
      "buffer options",
    ),
    ...wrongTypes("buffer(data)", (d) => inBody(() => ["s", d]), [
      ["42", 42],
      ['"x"', "x"],
      ["{ v: 42 }", { v: 42 }],
      ["{ v: [1, 2] } (not a Frame)", { v: [1, 2] }],
    ]),
  ].map((c) => {
    // wrongTypes/optionCases built `run` as (ctx) => inBody(...): call the inner runner too.
    const outer = c.run;
    return { ...c, run: (ctx: Ctx) => (outer(ctx) as (ctx: Ctx) => unknown)(ctx) };
  }).concat([
    {
      name: "buffer options.adapter: { name: 42 }",
      run: inBody((s) => ["s", s.final ? undefined : { v: s.item }, {
        adapter: { name: 42, byteSize: () => 1, concat: (f: unknown[]) => f[0] },
      }]),
    },
  ]);
}

export const loopRows: Row[] = [
  {
    export: "StatefulLoop",
    area: "loop",
    cases: [
      ...dirPathCases((p, ctx) =>
        StatefulLoop.open(p as string).then((l) => {
          ctx.defer(() => l.close());
        }), "open(path)"),
      ...optionCases(
        (o, ctx) =>
          StatefulLoop.open(ctx.fresh("loop"), o as never).then((l) => {
            ctx.defer(() => l.close());
          }),
        {
          memoryLimitMb: num(0),
          keep: int(1),
          fallback: "bool",
          clock: "fn",
        },
        {},
        "open options",
      ),
      ...optionCases(
        (o, ctx) =>
          StatefulLoop.open(ctx.fresh("loop"), { checkpoint: o as never }).then((l) => {
            ctx.defer(() => l.close());
          }),
        { everyItems: int(1), everyMs: num(0), afterFlush: "bool", atEnd: "bool" },
        {},
        "open options.checkpoint",
      ),
      ...wrongTypes(
        "open options.adapters",
        (a, ctx) =>
          StatefulLoop.open(ctx.fresh("loop"), { adapters: a as never }).then((l) => {
            ctx.defer(() => l.close());
          }),
        [["42", 42], ["[42]", [42]], ["[{}]", [{}]]],
      ),
      ...wrongTypes("state(name)", async (n, ctx) => (await open(ctx)).state(n as string, {}), [
        ['""', ""],
        ["42", 42],
      ]),
      ...wrongTypes("state(initial)", async (v, ctx) => (await open(ctx)).state("s", v as never), [
        ["42", 42],
        ["null", null],
        ["{ f: a function }", { f: () => 1 }],
      ]),
      ...wrongTypes(
        "bindFunctionState(fn)",
        async (f, ctx) => (await open(ctx)).bindFunctionState(f as never, { state: {} }),
      ),
      ...optionCases(
        async (o, ctx) => {
          function add(x: number, acc: { n: number }) {
            return x + acc.n;
          }
          return (await open(ctx)).bindFunctionState(add, o as never);
        },
        { state: "object", name: "str" },
        { state: { acc: { n: 0 } } },
        "bindFunctionState options",
      ),
      ...wrongTypes(
        "bindObjectState(obj)",
        async (o, ctx) =>
          (await open(ctx)).bindObjectState(o as never, { keys: ["n"], name: "o" } as never),
        [
          ["42", 42],
          ["null", null],
        ],
      ),
      ...optionCases(
        async (o, ctx) => (await open(ctx)).bindObjectState({ n: 0 }, o as never),
        { name: "str" },
        { keys: ["n"], name: "o" },
        "bindObjectState options",
      ),
      ...wrongTypes(
        "bindObjectState options.keys",
        async (k, ctx) =>
          (await open(ctx)).bindObjectState({ n: 0 }, { keys: k as never, name: "o" }),
        [
          ["42", 42],
          ["[]", []],
          ['["missing"]', ["missing"]],
          ["[42]", [42]],
        ],
      ),
      ...sourceCases(async (s, ctx) => {
        const loop = await open(ctx);
        for await (const _ of loop.iterate(s as never)) { /* consume */ }
      }, "iterate(source)"),
      ...sourceCases(async (s, ctx) => {
        const loop = await open(ctx);
        for await (const _ of loop.items(s as never)) { /* consume */ }
      }, "items(source)"),
      ...optionCases(
        async (o, ctx) => {
          const loop = await open(ctx);
          for await (const _ of loop.iterate([1], o as never)) { /* consume */ }
        },
        { skipCompleted: "bool", signal: "signal" },
        {},
        "iterate options",
      ),
      (() => {
        const err = userError("body");
        return {
          name: "iterate: the body throws (the user's error)",
          run: async (ctx: Ctx) => {
            const loop = await open(ctx);
            for await (const _ of loop.iterate([1])) throw err;
          },
          expect: { user: err },
        };
      })(),
      ...bufferCases(),
    ],
  },
];
