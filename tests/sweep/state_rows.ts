/** Sweep rows of the state area. */

import {
  anyCondition,
  arrayState,
  EveryNCondition,
  jsonState,
  LatestStatesKeeper,
  NatsStorage,
  PeriodicSaveCondition,
  recordState,
  StateStore,
} from "../../mod.ts";
import {
  argCases,
  type Case,
  type Ctx,
  dirPathCases,
  int,
  num,
  oneOf,
  optionCases,
  type Row,
  userError,
  wrongTypes,
} from "./harness.ts";

/** A fresh store in the shared temp dir, closed after the case. */
function store(ctx: Ctx): StateStore {
  const s = new StateStore(ctx.fresh("store"));
  ctx.defer(() => s.close());
  return s;
}

const storeOptions = {
  lock: "bool",
  readOnly: "bool",
  checksum: oneOf("crc32", "sha256"),
  keeper: "object",
  onStaleLock: "fn",
  clock: "fn",
} as const;

/** Bad snapshot targets, for `load` and `verify`. */
function targetCases(label: string, call: (s: StateStore, target: unknown) => unknown): Case[] {
  return wrongTypes(label, (t, ctx) => call(store(ctx), t), [
    ['""', ""],
    ["-1", -1],
    ["1.5", 1.5],
    ["NaN", NaN],
    ["{}", {}],
    ["null", null],
  ]).concat([
    { name: `${label}: a missing path`, run: (ctx) => call(store(ctx), ctx.missing) },
    { name: `${label}: a regular file`, run: (ctx) => call(store(ctx), ctx.file) },
    { name: `${label}: sequence 7 (none saved)`, run: (ctx) => call(store(ctx), 7) },
  ]);
}

function failingComponent(err: Error, where: "save" | "load") {
  return {
    saveState() {
      if (where === "save") throw err;
    },
    loadState() {
      if (where === "load") throw err;
    },
  };
}

export const stateRows: Row[] = [
  {
    export: "StateStore",
    area: "state",
    cases: [
      ...dirPathCases((p, ctx) => {
        const s = new StateStore(p as string);
        ctx.defer(() => s.close());
      }, "new StateStore(dir)"),
      ...dirPathCases((p, ctx) =>
        StateStore.open(p as string).then((s) => {
          ctx.defer(() => s.close());
        }), "StateStore.open(dir)"),
      ...optionCases((o, ctx) => {
        const s = new StateStore(ctx.fresh("store"), o as never);
        ctx.defer(() => s.close());
      }, storeOptions),
      {
        name: "options.keeper: { select: 42 }",
        run: (ctx) => void new StateStore(ctx.fresh("store"), { keeper: { select: 42 } as never }),
      },
      {
        name: "options.readOnly: true on a missing dir",
        run: (ctx) => void new StateStore(ctx.missing, { readOnly: true }),
      },
      ...wrongTypes("register(name)", (n, ctx) => store(ctx).register(n as string, jsonState(1)), [
        ['""', ""],
        ["42", 42],
        ['"../x"', "../x"],
        ['"manifest.json"', "manifest.json"],
        ['"a/b"', "a/b"],
      ]),
      ...wrongTypes("register(obj)", (o, ctx) => store(ctx).register("a", o as never), [
        ["42", 42],
        ["{}", {}],
        ["null", null],
      ]),
      ...optionCases(
        (o, ctx) => store(ctx).save(o as never),
        { signal: "signal" },
        {},
        "save options",
      ),
      { name: "save options.meta: a bigint", run: (ctx) => store(ctx).save({ meta: 1n }) },
      (() => {
        const err = userError("saveState");
        return {
          name: "save: a component's saveState throws (the user's error)",
          run: (ctx: Ctx) => {
            const s = store(ctx);
            s.register("bad", failingComponent(err, "save"));
            return s.save();
          },
          expect: { user: err },
        };
      })(),
      ...targetCases("load(target)", (s, t) => s.load(t as never)),
      ...optionCases(
        (o, ctx) => store(ctx).load("latest", o as never),
        { fallback: "bool", onCorrupt: "fn", allowMissing: "bool", signal: "signal" },
        {},
        "load options",
      ),
      (() => {
        const err = userError("loadState");
        return {
          name: "load: a component's loadState throws (the user's error)",
          run: async (ctx: Ctx) => {
            const s = store(ctx);
            s.register("bad", failingComponent(err, "load"));
            await s.save();
            return s.load("latest");
          },
          expect: { user: err },
        };
      })(),
      ...targetCases("verify(target)", (s, t) => s.verify(t as never)),
      ...wrongTypes("prune(keeper)", (k, ctx) => store(ctx).prune(k as never), [
        ["undefined", undefined],
        ["42", 42],
        ["{}", {}],
      ]),
    ],
  },
  {
    export: "jsonState",
    area: "state",
    note: "any value is accepted at creation; one without a JSON form is refused when saved",
    cases: [
      {
        name: "saved: a jsonState holding a function",
        run: (ctx) => {
          const s = store(ctx);
          s.register("fn", jsonState(() => 1));
          return s.save();
        },
      },
      {
        name: "saved: a jsonState holding a bigint",
        run: (ctx) => {
          const s = store(ctx);
          s.register("big", jsonState(1n));
          return s.save();
        },
      },
    ],
  },
  {
    export: "arrayState",
    area: "state",
    cases: wrongTypes("initial", (v) => arrayState(v as never), [
      ["undefined", undefined],
      ["42", 42],
      ["[1, 2]", [1, 2]],
      ["a DataView", new DataView(new ArrayBuffer(8))],
    ]),
  },
  {
    export: "recordState",
    area: "state",
    cases: wrongTypes("initial", (v) => recordState(v as never), [
      ["undefined", undefined],
      ["null", null],
      ["42", 42],
      ['"x"', "x"],
    ]),
  },
  {
    export: "EveryNCondition",
    area: "state",
    cases: argCases("n", int(1), (n) => new EveryNCondition(n as number)),
  },
  {
    export: "PeriodicSaveCondition",
    area: "state",
    cases: [
      ...argCases("intervalMs", num(0), (n) => new PeriodicSaveCondition(n as number)),
      ...optionCases((o) => new PeriodicSaveCondition(10, o as never), { clock: "fn" }),
    ],
  },
  {
    export: "LatestStatesKeeper",
    area: "state",
    cases: [
      ...argCases("maxKeep", int(0), (n) => new LatestStatesKeeper(n as number)),
      ...wrongTypes("cleanup(store)", (s) => new LatestStatesKeeper(1).cleanup(s as never), [
        ["undefined", undefined],
        ["42", 42],
        ["{}", {}],
      ]),
      ...wrongTypes("select(snapshots)", (s) => new LatestStatesKeeper(1).select(s as never), [
        ["undefined", undefined],
        ["42", 42],
      ]),
    ],
  },
  {
    export: "anyCondition",
    area: "state",
    cases: wrongTypes("conditions", (c) => anyCondition(c as never), [
      ["undefined", undefined],
      ["42", 42],
      ["{}", {}],
      ["{ shouldSave: 42 }", { shouldSave: 42 }],
    ]),
  },
  {
    // Every case fails before connecting, or at the connect (nothing listens on port 1).
    export: "NatsStorage",
    area: "state",
    cases: [
      ...optionCases(
        (o) => NatsStorage.connect(o as never),
        {
          bucket: "str",
          lockTtlMs: int(3),
          servers: "str",
          token: "str",
          nkeySeed: "str",
          credsFile: "str",
          tls: "object",
          name: "str",
          timeoutMs: num(0, true),
        },
        { servers: "nats://127.0.0.1:1", bucket: "b", timeoutMs: 2000 },
        "connect options",
      ),
      { name: "connect: no bucket", run: () => NatsStorage.connect({ servers: "x" } as never) },
      {
        name: "connect: bucket with a dot",
        run: () => NatsStorage.connect({ servers: "nats://127.0.0.1:1", bucket: "a.b" }),
      },
      {
        name: "connect: token and user/pass",
        run: () =>
          NatsStorage.connect({
            servers: "nats://127.0.0.1:1",
            bucket: "b",
            token: "t",
            user: "u",
            pass: "p",
          }),
      },
    ],
  },
];
