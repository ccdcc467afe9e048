/**
 * Sweep rows of the NATS pool: `NatsPool.start` and `runRemoteWorker`. Their option checks fail
 * before any connect (an `InvalidArgumentError`), valid options with nothing listening fail at
 * the connect (a `NatsConnectError`); the cases that need a pool or a worker past the connect
 * (the map options, a worker's `init` that throws) start their own server through the shared
 * harness (tests/nats/server.ts), stopped after the case.
 */

import { InvalidArgumentError, NatsConnectError, NatsPool, runRemoteWorker } from "../../mod.ts";
import { startNatsServer } from "../nats/server.ts";
import {
  type Case,
  type Ctx,
  int,
  type Kind,
  num,
  oneOf,
  optionCases,
  type Row,
  sourceCases,
  userError,
  wrongTypes,
} from "./harness.ts";

/** Nothing listens on port 1: a connect there fails (within `timeoutMs`). */
const NOWHERE = { servers: "nats://127.0.0.1:1", timeoutMs: 2000 };
const INVALID = { spool: true, class: InvalidArgumentError } as const;
const NO_CONNECT = { spool: true, class: NatsConnectError } as const;
const OVER_MAX = { spool: true, class: InvalidArgumentError, message: /must be at most/ } as const;

const moduleOf = (code: string) => "data:application/javascript," + encodeURIComponent(code);
const identity = moduleOf("export default { process: (_s, x) => x };");

/** The connection fields both sides pass on to `connectNats`. */
const connectFields: Record<string, Kind> = {
  servers: "str",
  token: "str",
  user: "str",
  pass: "str",
  nkeySeed: "str",
  credsFile: "str",
  tls: "object",
  name: "str",
  timeoutMs: num(0, true),
};

/** Pool names the server could not use as subject and stream tokens. */
const badPoolNames: [string, unknown][] = [
  ["undefined", undefined],
  ['""', ""],
  ["42", 42],
  ['"a.b"', "a.b"],
  ['"a b"', "a b"],
  ['"a*"', "a*"],
  ['"a>"', "a>"],
  ['"a/b"', "a/b"],
  ["65 letters", "p".repeat(65)],
];

/** Option cases that must fail before any connect: an `InvalidArgumentError` unless told. */
function invalid(cases: Case[]): Case[] {
  return cases.map((c) => ({ ...c, expect: c.expect ?? INVALID }));
}

/** The shared connection cases of one side: bad servers lists, then nothing listening. */
function connectCases(call: (options: unknown) => unknown, base: Record<string, unknown>): Case[] {
  return [
    ...invalid([
      { name: "options.servers: []", run: () => call({ ...base, servers: [] }) },
      { name: "options.servers: [42]", run: () => call({ ...base, servers: [42] }) },
      { name: 'options.servers: [""]', run: () => call({ ...base, servers: [""] }) },
      { name: "options.user without pass", run: () => call({ ...base, user: "u" }) },
      {
        name: "options.token and user/pass",
        run: () => call({ ...base, token: "t", user: "u", pass: "p" }),
      },
      {
        name: "options.tls: unknown key caFil",
        run: () => call({ ...base, tls: { caFil: "x" } }),
      },
    ]),
    {
      name: "options.credsFile: a missing file",
      run: (ctx) => call({ ...base, credsFile: ctx.missing }),
    },
    {
      name: "options.servers: a port nothing listens on",
      run: () => call(base),
      expect: NO_CONNECT,
    },
    {
      name: 'options.servers: "not a url"',
      run: () => call({ ...base, servers: "::not a url::" }),
    },
  ];
}

// ---- NatsPool ----

const POOL_BASE = { ...NOWHERE, pool: "sweep" };
const startPool = (o: unknown) => NatsPool.start(o as never).then((p) => p.close());

/**
 * A pool on a fresh server of its own (with one in-process remote worker when `served`), all
 * closed after the case: the pool first, then the worker, then the server.
 */
async function livePool(ctx: Ctx, served = false): Promise<NatsPool> {
  const server = await startNatsServer();
  ctx.defer(() => server.stop());
  if (served) {
    const stop = new AbortController();
    let ready!: () => void;
    const started = new Promise<void>((resolve) => (ready = resolve));
    const worker = runRemoteWorker({
      servers: server.url,
      pool: "sweep",
      module: identity,
      signal: stop.signal,
      onReady: ready,
    });
    ctx.defer(() => (stop.abort(), worker));
    await Promise.race([started, worker]);
  }
  const pool = await NatsPool.start({ servers: server.url, pool: "sweep", size: 1 });
  ctx.defer(() => pool.close());
  return pool;
}

const mapOf = (o: unknown) => async (ctx: Ctx) => (await livePool(ctx)).map([1, 2], o as never);

const natsPoolCases: Case[] = [
  ...invalid([
    { name: "options: undefined", run: () => startPool(undefined) },
    { name: "options: null", run: () => startPool(null) },
    { name: "options: []", run: () => startPool([]) },
    ...optionCases(startPool, {
      size: int(1),
      depth: int(1),
      ackWaitMs: int(100),
      maxDeliveries: int(1),
      ...connectFields,
    }, POOL_BASE),
    ...wrongTypes("options.pool", (p) => startPool({ ...NOWHERE, pool: p }), badPoolNames),
    // over the maxima: an untyped RangeError at the first map (window arrays), or a consumer
    // the server cannot create (ack_wait overflows its nanoseconds)
    {
      name: "options.size: 4097 (max 4096)",
      run: () => startPool({ ...POOL_BASE, size: 4097 }),
      expect: OVER_MAX,
    },
    {
      name: "options.depth: 1025 (max 1024)",
      run: () => startPool({ ...POOL_BASE, depth: 1025 }),
      expect: OVER_MAX,
    },
    {
      name: "options.ackWaitMs: 2 ** 31 (max 2 ** 31 - 1)",
      run: () => startPool({ ...POOL_BASE, ackWaitMs: 2 ** 31 }),
      expect: OVER_MAX,
    },
    {
      name: "options.ackWaitMs: 1e13",
      run: () => startPool({ ...POOL_BASE, ackWaitMs: 1e13 }),
      expect: OVER_MAX,
    },
    {
      name: "options.timeoutMs: the map's, 0 (here the connect timeout)",
      run: () => startPool({ ...POOL_BASE, timeoutMs: 0 }),
    },
  ]),
  ...connectCases(startPool, POOL_BASE),
  // The map options are the shared ones (map_options.ts); a live pool is needed to reach them.
  ...optionCases(
    (o, ctx) => mapOf(o)(ctx),
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
  ).map((c) => ({ ...c, expect: INVALID })),
  ...invalid(wrongTypes("map options.chunkSize", (v, ctx) => mapOf({ chunkSize: v })(ctx), [
    ['"big"', "big"],
    ["0", 0],
    ["1.5", 1.5],
  ])),
  {
    name: "map: an item that is not cloneable",
    run: async (ctx) => (await livePool(ctx)).map([() => 1]),
  },
  {
    // checked where the input is run: a remote worker serves this pool
    name: "map spread: an item that is not an array",
    run: async (ctx) => (await livePool(ctx, true)).map([42] as never, { spread: true }),
  },
  ...sourceCases(async (s, ctx) => (await livePool(ctx)).map(s as never), "map(source)"),
  {
    name: "insights options: unknown key x",
    run: async (ctx) => (await livePool(ctx)).insights({ x: 1 } as never),
    expect: INVALID,
  },
];

// ---- runRemoteWorker ----

const WORKER_BASE = { ...NOWHERE, pool: "sweep", module: identity };
const runWorker = (o: unknown) => runRemoteWorker(o as never);

/** A worker of `module` on a fresh server of its own, stopped after the case. */
async function liveWorker(ctx: Ctx, module: string): Promise<void> {
  const server = await startNatsServer();
  ctx.defer(() => server.stop());
  await runRemoteWorker({ servers: server.url, pool: "sweep", module, signal: ctx.signal });
}

const initError = userError("init");
globalThis.__sweepInitError = initError;

declare global {
  var __sweepInitError: Error | undefined;
}

const remoteWorkerCases: Case[] = [
  ...invalid([
    { name: "options: undefined", run: () => runWorker(undefined) },
    { name: "options: null", run: () => runWorker(null) },
    ...optionCases(runWorker, {
      exportName: "str",
      concurrency: int(1),
      index: int(0),
      size: int(1),
      ackWaitMs: int(100),
      maxDeliveries: int(1),
      signal: "signal",
      onReady: "fn",
      ...connectFields,
    }, WORKER_BASE),
    {
      name: "options.ackWaitMs: 2 ** 31 (max 2 ** 31 - 1)",
      run: () => runWorker({ ...WORKER_BASE, ackWaitMs: 2 ** 31 }),
      expect: OVER_MAX,
    },
    ...wrongTypes(
      "options.pool",
      (p) => runWorker({ ...NOWHERE, module: identity, pool: p }),
      badPoolNames,
    ),
    ...wrongTypes("options.module", (m) => runWorker({ ...NOWHERE, pool: "sweep", module: m }), [
      ["undefined", undefined],
      ['""', ""],
      ["42", 42],
      ["{}", {}],
    ]),
  ]),
  ...connectCases(runWorker, WORKER_BASE),
  {
    name: "options.module: init throws (the user's error)",
    run: (ctx) =>
      liveWorker(
        ctx,
        moduleOf(
          "export default { init() { throw globalThis.__sweepInitError; }, process: (_s, x) => x };",
        ),
      ),
    expect: { user: initError },
  },
];

/** Worker modules that cannot serve: each is an InvalidArgumentError naming the module. */
const moduleCases: Case[] = [
  {
    name: "options.module: a missing file",
    run: (ctx) => runWorker({ ...WORKER_BASE, module: `file://${ctx.missing}.ts` }),
  },
  {
    name: "options.module: no default export",
    run: () => runWorker({ ...WORKER_BASE, module: moduleOf("export const x = 1;") }),
  },
  {
    name: "options.module: default export without process",
    run: () => runWorker({ ...WORKER_BASE, module: moduleOf("export default { init() {} };") }),
  },
  {
    name: 'options.exportName: "nope" (no such export)',
    run: () => runWorker({ ...WORKER_BASE, exportName: "nope" }),
  },
];

export const natsPoolRows: Row[] = [
  { export: "NatsPool", area: "nats-pool", cases: natsPoolCases },
  {
    export: "runRemoteWorker",
    area: "nats-pool",
    cases: [...remoteWorkerCases, ...moduleCases],
  },
];
