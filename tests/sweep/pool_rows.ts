/** Sweep rows of the pool area. */

import { defineWorker, WorkerPool } from "../../mod.ts";
import {
  type Case,
  type Ctx,
  int,
  num,
  oneOf,
  optionCases,
  type Row,
  sourceCases,
  wrongTypes,
} from "./harness.ts";

const moduleOf = (code: string) => "data:application/javascript," + encodeURIComponent(code);
const identity = moduleOf("export default { process: (_s, x) => x };");

/** A pool of size 1 (the smallest), closed after the case. */
function pool(ctx: Ctx, module = identity, extra: Record<string, unknown> = {}): WorkerPool {
  const p = new WorkerPool({ module, size: 1, ...extra });
  ctx.defer(() => p.close());
  return p;
}

/** Start a pool with `options` (size 1 unless given) and wait until it is ready. */
async function start(ctx: Ctx, options: unknown): Promise<void> {
  const p = new WorkerPool(options as never);
  ctx.defer(() => p.close());
  await p.ready;
}

export const poolRows: Row[] = [
  {
    export: "WorkerPool",
    area: "pool",
    cases: [
      ...wrongTypes("options", (o, ctx) => start(ctx, o), [["undefined", undefined]]),
      ...wrongTypes("options.module", (m, ctx) => start(ctx, { module: m, size: 1 }), [
        ["undefined", undefined],
        ['""', ""],
        ["42", 42],
      ]),
      {
        name: "options.module: a missing file",
        run: (ctx) => start(ctx, { module: `file://${ctx.missing}.ts`, size: 1 }),
      },
      {
        name: "options.module: no default export",
        run: (ctx) => start(ctx, { module: moduleOf("export const x = 1;"), size: 1 }),
      },
      {
        name: "options.module: default export without process",
        run: (ctx) => start(ctx, { module: moduleOf("export default { init() {} };"), size: 1 }),
      },
      {
        name: "options.module: init throws",
        run: (ctx) =>
          start(ctx, {
            module: moduleOf(
              "export default { init() { throw new Error('boom'); }, process() {} };",
            ),
            size: 1,
          }),
      },
      ...optionCases(
        (o, ctx) => start(ctx, o),
        {
          size: int(1),
          depth: int(1),
          closeTimeoutMs: num(0),
          kind: oneOf("worker", "process"),
          exportName: "str",
        },
        { module: identity, size: 1 },
      ),
      ...wrongTypes(
        "options.perWorker",
        (v, ctx) => start(ctx, { module: identity, size: 1, perWorker: v }),
        [
          ["42", 42],
          ["[] (length 0, size 1)", []],
        ],
      ),
      ...wrongTypes(
        "options.denoArgs",
        (v, ctx) => start(ctx, { module: identity, size: 1, kind: "process", denoArgs: v }),
        [
          ["42", 42],
          ["[42]", [42]],
        ],
      ),
      {
        name: "options.init: a function (not cloneable)",
        run: (ctx) => start(ctx, { module: identity, size: 1, init: () => 1 }),
      },
      {
        name: "WorkerPool.start(options: 42)",
        run: () => WorkerPool.start(42 as never).then((p) => p.close()),
      },
      ...optionCases(
        (o, ctx) => pool(ctx).map([1, 2], o as never),
        {
          maxInFlight: int(1),
          ordered: "bool",
          errors: oneOf("throw", "throw-after-drain", "collect"),
          spread: "bool",
          timeoutMs: num(1),
          signal: "signal",
        },
        {},
        "map options",
      ),
      ...wrongTypes(
        "map options.chunkSize",
        (v, ctx) => pool(ctx).map([1], { chunkSize: v as never }),
        [
          ['"big"', "big"],
          ["0", 0],
          ["1.5", 1.5],
          ["NaN", NaN],
        ],
      ),
      ...wrongTypes(
        "map options.maxInFlight",
        (v, ctx) => pool(ctx).map([1], { maxInFlight: v as never }),
        [
          ["2 ** 33 (over the limit)", 2 ** 33],
        ],
      ),
      ...wrongTypes(
        "map options.transfer",
        (v, ctx) => pool(ctx).map([1], { transfer: v as never }),
        [
          ["42", 42],
          ['"yes"', "yes"],
        ],
      ),
      {
        name: "map: an item that is not cloneable",
        run: (ctx) => pool(ctx).map([() => 1]),
      },
      {
        name: "map spread: an item that is not an array",
        run: (ctx) => pool(ctx).map([42] as never, { spread: true }),
      },
      ...sourceCases((s, ctx) => pool(ctx).map(s as never), "map(source)"),
    ] as Case[],
  },
  {
    export: "defineWorker",
    area: "pool",
    cases: wrongTypes("definition", (d) => defineWorker(d as never), [
      ["undefined", undefined],
      ["42", 42],
      ["{}", {}],
      ["{ process: 42 }", { process: 42 }],
      ["{ process, init: 42 }", { process: () => 1, init: 42 }],
      ["{ process, dispose: 42 }", { process: () => 1, dispose: 42 }],
      ["{ process, initt } (unknown key)", { process: () => 1, initt: () => 1 }],
    ]),
  },
];
