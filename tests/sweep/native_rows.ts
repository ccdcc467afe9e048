/** Sweep rows of the native area. */

import {
  activeImplementation,
  createFrameBuffer,
  NativeFrameBuffer,
  NativeLoadError,
  nativeStatus,
  ProducerError,
  RingQueue,
  TsFrameBuffer,
  workerPrefetch,
} from "../../mod.ts";
import {
  argCases,
  type Case,
  type Ctx,
  int,
  num,
  oneOf,
  optionCases,
  returns,
  type Row,
  wrongTypes,
} from "./harness.ts";

const native = activeImplementation() === "native";
const producerError = { spool: true, class: ProducerError } as const;

/** A producer module as a data: URL. */
const moduleOf = (code: string) => "data:application/javascript," + encodeURIComponent(code);

/** Bad schemas, for every FrameBuffer constructor. */
function schemaCases(make: (schema: unknown) => unknown): Case[] {
  return wrongTypes("schema", (s) => make(s), [
    ["undefined", undefined],
    ["null", null],
    ["42", 42],
    ['"Float64Array"', "Float64Array"],
    ["{}", {}],
    ['["Float64Array"] (an array)', ["Float64Array"]],
    ['{ a: "Float99Array" }', { a: "Float99Array" }],
    ["{ a: 42 }", { a: 42 }],
    ['{ a: "" }', { a: "" }],
  ]);
}

/** Bad chunks, bad recycles, bad reserves for a buffer built by `make`. */
function bufferCases(
  label: string,
  make: () => {
    append(c: unknown): void;
    recycle(c: unknown): void;
    close(): void;
    reserve?(n: number): void;
  },
): Case[] {
  const withBuffer = (fn: (b: ReturnType<typeof make>) => unknown) => (ctx: Ctx) => {
    const b = make();
    ctx.defer(() => b.close());
    return fn(b);
  };
  const chunks: [string, unknown][] = [
    ["undefined", undefined],
    ["42", 42],
    ["{} (a missing column)", {}],
    ["{ t: [1, 2] } (a plain array)", { t: [1, 2], id: new Int32Array(2) }],
    ["{ t: Float32Array } (another kind)", { t: new Float32Array(2), id: new Int32Array(2) }],
    ["{ t: DataView }", { t: new DataView(new ArrayBuffer(16)), id: new Int32Array(2) }],
    ["unequal lengths", { t: new Float64Array(2), id: new Int32Array(3) }],
    ["an extra column", { t: new Float64Array(2), id: new Int32Array(2), z: new Int8Array(2) }],
  ];
  const out: Case[] = chunks.map(([shown, chunk]) => ({
    name: `${label}.append(${shown})`,
    run: withBuffer((b) => b.append(chunk)),
  }));
  for (const [shown, cols] of [["42", 42], ['"x"', "x"], ["null", null]] as [string, unknown][]) {
    out.push({ name: `${label}.recycle(${shown})`, run: withBuffer((b) => b.recycle(cols)) });
  }
  if (make().reserve) {
    for (
      const [shown, n] of [
        ["-1", -1],
        ["1.5", 1.5],
        ["NaN", NaN],
        ['"1"', "1"],
        ["2^50 (more than the machine's memory)", 2 ** 50],
      ] as const
    ) {
      out.push({
        name: `${label}.reserve(${shown})`,
        run: withBuffer((b) => b.reserve!(n as number)),
      });
    }
  }
  return out;
}

const schema = { t: "Float64Array", id: "Int32Array" } as const;

/** Cases on an open queue (native only: without the addon, create is the NativeLoadError case). */
function ringCases(): Case[] {
  // `on(fn)` is a generator's `call`: a fresh queue per case, released after it.
  const on = (fn: (q: RingQueue, value: unknown) => unknown) => (value: unknown, ctx: Ctx) => {
    const q = RingQueue.create(2);
    ctx.defer(() => q.release());
    return fn(q, value);
  };
  const msg = new Uint8Array(1);
  const timeout = { timeoutMs: num(0) };
  return [
    ...wrongTypes("push(message)", on((q, m) => q.push(m as never))),
    ...wrongTypes("tryPush(message)", on((q, m) => q.tryPush(m as never))),
    ...optionCases(on((q, o) => q.push(msg, o as never)), timeout, {}, "push options"),
    // pop on a closed queue: never blocks this thread, even when a bad option is accepted.
    ...optionCases(on((q, o) => (q.close(), q.pop(o as never))), timeout, {}, "pop options"),
    ...argCases("tryPopMany(max)", int(1), on((q, m) => q.tryPopMany(m as number))),
    ...optionCases(
      on((q, o) => q.tryPopMany(4, o as never)),
      { copy: "bool" },
      {},
      "tryPopMany options",
    ),
    ...argCases("batches(max)", int(1), on((q, m) => q.batches(m as number))),
    ...optionCases(on((q, o) => q.close(o as never)), { discard: "bool" }, {}, "close options"),
  ];
}

export const nativeRows: Row[] = [
  {
    export: "createFrameBuffer",
    area: "native",
    cases: [
      ...schemaCases((s) => createFrameBuffer(s as never).close()),
      ...optionCases(
        (o) => createFrameBuffer(schema, o as never).close(),
        { implementation: oneOf("auto", "native", "ts") },
      ),
      ...bufferCases("auto", () => createFrameBuffer(schema) as never),
    ],
  },
  {
    export: "TsFrameBuffer",
    area: "native",
    cases: [
      ...schemaCases((s) => new TsFrameBuffer(s as never).close()),
      ...bufferCases("ts", () => new TsFrameBuffer(schema) as never),
    ],
  },
  {
    export: "NativeFrameBuffer",
    area: "native",
    cases: [
      ...schemaCases((s) => new NativeFrameBuffer(s as never).close()),
      ...(native ? bufferCases("native", () => new NativeFrameBuffer(schema) as never) : [{
        name: "constructed without the addon",
        run: () => new NativeFrameBuffer(schema).close(),
        expect: { spool: true, class: NativeLoadError },
      } as Case]),
    ],
  },
  {
    export: "RingQueue",
    area: "native",
    cases: [
      ...argCases("create(capacity)", int(1), (c) => RingQueue.create(c as number).release()),
      { name: "create(capacity): 2^40", run: () => RingQueue.create(2 ** 40).release() },
      ...argCases("open(id)", int(1), (id) => RingQueue.open(id as number).release()),
      ...(native
        ? [
          {
            name: "open(id): an id no queue has",
            run: () => RingQueue.open(2 ** 31).stats(),
          } as Case,
          ...ringCases(),
        ]
        : [{
          name: "create without the addon",
          run: () => RingQueue.create(1).release(),
          expect: { spool: true, class: NativeLoadError },
        } as Case]),
    ],
  },
  {
    export: "workerPrefetch",
    area: "native",
    cases: [
      ...wrongTypes("module", (m) => workerPrefetch(m as never), [
        ["undefined", undefined],
        ["42", 42],
        ['""', ""],
      ]),
      ...optionCases(
        (o) => workerPrefetch(moduleOf("export default function* () {}"), o as never),
        { size: int(1), transport: oneOf("auto", "ring", "postMessage"), signal: "signal" },
      ),
      {
        name: "options.args: a function (not cloneable)",
        run: () => workerPrefetch(moduleOf("export default function* () {}"), { args: () => 1 }),
      },
      ...(["auto", "postMessage"] as const).flatMap((transport): Case[] => [
        {
          name: `${transport}: module not found`,
          run: (ctx) =>
            workerPrefetch(new URL("./no-such-module.ts", `file://${ctx.dir}/`), {
              transport,
            }),
          expect: producerError,
        },
        {
          name: `${transport}: no default export`,
          run: () => workerPrefetch(moduleOf("export const x = 1;"), { transport }),
          expect: producerError,
        },
        {
          name: `${transport}: the producer throws`,
          run: () =>
            workerPrefetch(moduleOf("export default function* () { throw new Error('boom'); }"), {
              transport,
            }),
          expect: producerError,
        },
        {
          name: `${transport}: the producer rejects`,
          run: () =>
            workerPrefetch(
              moduleOf("export default async function* () { await 0; throw new Error('boom'); }"),
              { transport },
            ),
          expect: producerError,
        },
        {
          name: `${transport}: the producer yields 42`,
          run: () =>
            workerPrefetch(moduleOf("export default function* () { yield 42; }"), {
              transport,
            }),
          expect: producerError,
        },
        {
          name: `${transport}: the producer returns 42 (not iterable)`,
          run: () => workerPrefetch(moduleOf("export default () => 42;"), { transport }),
          expect: producerError,
        },
      ]),
    ],
  },
  {
    export: "nativeStatus",
    area: "native",
    note: "takes no argument",
    cases: [returns("no argument", () => nativeStatus())],
  },
  {
    export: "activeImplementation",
    area: "native",
    note: "takes no argument",
    cases: [returns("no argument", () => activeImplementation())],
  },
];
