/**
 * The shape of a JSON pipeline description: its types (nodes referencing module URLs and export
 * names, their inputs, ratios and pools; sources; sinks; checkpoint settings) and the keys each
 * of its objects accepts. `parseDescription` (description_check.ts) checks one; `loadPipeline`
 * (loader.ts) builds it.
 *
 * @module
 */

/** A function found in a module: `{module, export, args?}` (args only inside a chain). */
export interface FunctionRef {
  /** Module URL or path, relative to the description's location. */
  module: string;
  /** Export name (default `"default"`). */
  export?: string;
  /** Extra arguments (chain entries only). */
  args?: unknown[];
}

/** A node of a JSON pipeline description. */
export interface NodeDescription {
  /** Node name. */
  name: string;
  /** An entry point (no inputs). */
  source?: boolean;
  /** Upstream nodes, in order. */
  inputs?: string[];
  /** The function (function and stateful nodes). */
  fn?: FunctionRef;
  /** The functions of a chain node. */
  chain?: FunctionRef[];
  /** Name of a pool in `pools` (pool nodes). */
  pool?: string;
  /** The initial state (stateful nodes; JSON). */
  state?: unknown;
  /** Inputs per call. */
  consume?: number;
  /** Outputs per call. */
  produce?: number;
  /** Repeat the result instead of splitting it. */
  repeat?: boolean;
  /** Calls in flight. */
  spawn?: number;
  /** Error policy. */
  errors?: "fail" | "dead-letter";
  /** Pool nodes: results in input order. */
  ordered?: boolean;
  /** Pool nodes: inputs per message to a worker (an integer >= 1 or `"auto"`). */
  chunkSize?: number | "auto";
  /** Pool nodes: the map's window (items in flight). */
  maxInFlight?: number;
}

/** How a source gets its items. */
export type SourceDescription =
  | { lines: string; follow?: boolean }
  | { ndjson: string; follow?: boolean }
  | { range: number }
  | { items: unknown[] }
  | FunctionRef;

/** Where a sink's items go. */
export type SinkDescription =
  | { files: string; extension?: string }
  | { ndjson: string }
  | { stdout: true }
  | { discard: true };

/** A pool of a description. */
export interface PoolDescription {
  /**
   * Worker module (relative to the description). With `kind: "nats"` the remote workers run
   * their own copy (`--module`): it must be the same module, and it is imported here only to
   * check that its export is a worker definition.
   */
  module: string;
  /** Workers (default: hardware concurrency); with `"nats"`, the remote workers' parallelism. */
  size?: number;
  /** Init arguments (not with `"nats"`: the remote workers take theirs with `--args`). */
  init?: unknown;
  /** `"worker"` (threads, the default), `"process"`, or `"nats"` (remote workers). */
  kind?: "worker" | "process" | "nats";
  /** Export holding the worker definition. */
  export?: string;
  /**
   * With `kind: "nats"` (and only then): where the remote workers take their tasks, the
   * `NatsPool.start` options a description holds. Credentials only by reference: the name of
   * the environment variable holding a token or password, the path of a `.creds` file or of TLS
   * files (resolved when the description is loaded), never a secret itself.
   */
  nats?: {
    /** NATS server URL(s), e.g. `"nats://127.0.0.1:4222"`. */
    servers: string | string[];
    /** The pool name the remote workers were started with (`--pool`). */
    pool: string;
    /** Chunks in flight per unit of the pool's `size` (default 4). */
    depth?: number;
    /** Redelivery delay of a task whose worker died, ms, if this side creates the consumer. */
    ackWaitMs?: number;
    /** The environment variable holding the token (token auth). */
    tokenEnv?: string;
    /** The user name (user/password auth, with `passEnv`). */
    user?: string;
    /** The environment variable holding the password of `user`. */
    passEnv?: string;
    /** A `.creds` file (JWT + NKey seed), relative to the description. */
    credsFile?: string;
    /** TLS files (PEM), relative to the description: a CA, and a client cert with its key. */
    tls?: { caFile?: string; certFile?: string; keyFile?: string };
  };
}

/** A whole pipeline as JSON. */
export interface PipelineDescription {
  /** The JSON Schema the file follows (for editors; see `src/pipeline/pipeline.schema.json`). */
  $schema?: string;
  /** Nodes, in an order where inputs come first. */
  nodes: NodeDescription[];
  /** Pools by name. */
  pools?: Record<string, PoolDescription>;
  /** Inputs of the sources by source name. */
  sources?: Record<string, SourceDescription>;
  /** Outputs of the sinks by sink name (default: discard). */
  sinks?: Record<string, SinkDescription>;
  /** Edge and sink buffer sizes. */
  options?: { buffer?: number; sinkBuffer?: number };
  /**
   * Checkpoint store and interval: a directory (relative to the description), or a NATS bucket
   * (`{nats: {servers, bucket, ...}}`, credentials by reference as for a NATS pool).
   */
  checkpoint?: {
    store: string | {
      nats: {
        servers: string | string[];
        /** The bucket of the checkpoints (1-64 of `A-Z a-z 0-9 _ -`). */
        bucket: string;
        /** How long the writer's lock lives without refresh, ms (default 30000). */
        lockTtlMs?: number;
        tokenEnv?: string;
        user?: string;
        passEnv?: string;
        credsFile?: string;
        tls?: { caFile?: string; certFile?: string; keyFile?: string };
      };
    };
    every?: { items?: number; ms?: number };
    keep?: number;
  };
}

/** The action named by the errors of loading a description. */
export const LOAD_ACTION = "load the pipeline description";

/** The action of loading the description in `file` (the file named when known). */
export function loadActionOf(file: string | undefined): string {
  return file === undefined ? LOAD_ACTION : `${LOAD_ACTION} ${file}`;
}

/**
 * The keys each object of a description accepts. `pipeline.schema.json` lists the same ones (a
 * test walks both); an unknown key is an error naming it and these.
 */
export const DESCRIPTION_KEYS = {
  description: ["$schema", "nodes", "pools", "sources", "sinks", "options", "checkpoint"],
  node: {
    source: ["name", "source"],
    fn: ["name", "inputs", "fn", "state", "consume", "produce", "repeat", "spawn", "errors"],
    chain: ["name", "inputs", "chain", "consume", "produce", "repeat", "spawn", "errors"],
    pool: [
      "name",
      "inputs",
      "pool",
      "consume",
      "produce",
      "repeat",
      "errors",
      "ordered",
      "chunkSize",
      "maxInFlight",
    ],
  },
  functionRef: ["module", "export"],
  chainEntry: ["module", "export", "args"],
  pool: ["module", "size", "init", "kind", "export", "nats"],
  natsPool: [
    "servers",
    "pool",
    "depth",
    "ackWaitMs",
    "tokenEnv",
    "user",
    "passEnv",
    "credsFile",
    "tls",
  ],
  natsStore: ["servers", "bucket", "lockTtlMs", "tokenEnv", "user", "passEnv", "credsFile", "tls"],
  natsStoreRef: ["nats"],
  tls: ["caFile", "certFile", "keyFile"],
  source: {
    lines: ["lines", "follow"],
    ndjson: ["ndjson", "follow"],
    range: ["range"],
    items: ["items"],
    module: ["module", "export"],
  },
  sink: {
    files: ["files", "extension"],
    ndjson: ["ndjson"],
    stdout: ["stdout"],
    discard: ["discard"],
  },
  options: ["buffer", "sinkBuffer"],
  checkpoint: ["store", "every", "keep"],
  every: ["items", "ms"],
} as const;
