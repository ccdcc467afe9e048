/**
 * The NATS parts of a description: a `kind: "nats"` pool's `nats` object and a checkpoint store
 * in a NATS bucket (`checkpoint.store: {nats: {...}}`), checked, and their connection resolved
 * when the description is loaded.
 *
 * Credentials are named by reference only, so a description file holds no secret:
 * - `tokenEnv`: the environment variable holding the token;
 * - `user` + `passEnv`: a user name (not a secret) and the variable holding its password;
 * - `credsFile`: a `.creds` file (JWT + NKey seed; the file's permissions protect it);
 * - `tls`: `{caFile?, certFile?, keyFile?}` PEM files.
 * A `token`, `pass`, `password` or `nkeySeed` key is refused with a message saying what to use.
 *
 * @module
 */

import { isRecord } from "../_internal/options.ts";
import type { InvalidArgumentError } from "../errors.ts";
import type { NatsConnectOptions } from "../nats/options.ts";
import { checkPoolName } from "../pool/nats/protocol.ts";
import { DESCRIPTION_KEYS } from "./description.ts";
import type { Checker } from "./description_checker.ts";
import { pathOf } from "./description_paths.ts";
import { PipelineBuildError } from "./errors.ts";

/** The connection fields a description's `nats` objects share (credentials by reference). */
export interface NatsConnectionRef {
  servers: string | string[];
  tokenEnv?: string;
  user?: string;
  passEnv?: string;
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/** Keys that would put a secret in the file, and what to write instead. */
const SECRETS: Record<string, string> = {
  token: "tokenEnv (the environment variable holding the token)",
  pass: "passEnv (the environment variable holding the password)",
  password: "passEnv (the environment variable holding the password)",
  nkeySeed: "credsFile (a .creds file) for NKey or JWT auth",
};

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const BUCKET = /^[A-Za-z0-9_-]{1,64}$/;

/** The connection fields of a `nats` object at `path`: servers and credential references. */
function checkConnection(
  checker: Checker,
  path: string,
  nats: Record<string, unknown>,
  known: readonly string[],
): void {
  const problems = checker.problems;
  const rest: Record<string, unknown> = { ...nats };
  for (const [key, instead] of Object.entries(SECRETS)) {
    if (!(key in nats)) continue;
    // The value is a secret: never echoed in the message.
    problems.add(`${path}.${key}`, `a secret does not belong in a description: use ${instead}`, {
      [key]: "(not shown)",
    });
    delete rest[key];
  }
  problems.keys(path, rest, known);
  const servers = nats.servers;
  const list = Array.isArray(servers) ? servers : [servers];
  if (
    servers === undefined || list.length === 0 ||
    !list.every((s) => typeof s === "string" && s.length > 0)
  ) {
    problems.add(
      `${path}.servers`,
      servers === undefined ? "is required" : "must be a URL or a non-empty list of URLs",
      servers,
    );
  }
  for (const key of ["tokenEnv", "passEnv"]) {
    const v = nats[key];
    if (v !== undefined && (typeof v !== "string" || !ENV_NAME.test(v))) {
      problems.add(
        `${path}.${key}`,
        "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
        v,
      );
    }
  }
  checker.string(`${path}.user`, nats.user);
  checker.string(`${path}.credsFile`, nats.credsFile);
  if ((nats.user === undefined) !== (nats.passEnv === undefined)) {
    problems.add(`${path}.user`, "user and passEnv go together (both or neither)", nats.user);
  }
  const ways = ["tokenEnv", "user", "credsFile"].filter((k) => nats[k] !== undefined);
  if (ways.length > 1) {
    problems.add(
      path,
      "takes at most one way to authenticate (tokenEnv, user + passEnv, credsFile)",
      ways,
    );
  }
  checkTls(checker, `${path}.tls`, nats.tls);
}

function checkTls(checker: Checker, path: string, tls: unknown): void {
  if (tls === undefined || !checker.record(path, tls, "{caFile?, certFile?, keyFile?}")) return;
  checker.problems.keys(path, tls, DESCRIPTION_KEYS.tls);
  for (const key of DESCRIPTION_KEYS.tls) checker.string(`${path}.${key}`, tls[key]);
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    checker.problems.add(path, "certFile and keyFile go together (both or neither)", tls);
  }
}

/** A `kind: "nats"` pool: its `nats` object (servers, pool name, ...), and no `init`. */
export function checkNatsPool(checker: Checker, path: string, pool: Record<string, unknown>): void {
  const problems = checker.problems;
  if (pool.init !== undefined) {
    problems.add(
      `${path}.init`,
      "is not for a NATS pool: the remote workers take their init arguments when they start " +
        "(remote worker --args)",
      pool.init,
    );
  }
  const nats = pool.nats;
  if (nats === undefined) {
    problems.add(`${path}.nats`, 'is required with kind "nats" ({servers, pool})', nats);
    return;
  }
  if (
    !checker.record(`${path}.nats`, nats, "{servers, pool, depth?, ackWaitMs?, tokenEnv?, ...}")
  ) {
    return;
  }
  checkConnection(checker, `${path}.nats`, nats, DESCRIPTION_KEYS.natsPool);
  if (nats.pool === undefined) problems.add(`${path}.nats.pool`, "is required", nats.pool);
  else {
    try {
      checkPoolName("", nats.pool);
    } catch (error) {
      problems.add(`${path}.nats.pool`, (error as InvalidArgumentError).reason, nats.pool);
    }
  }
  checker.integer(`${path}.nats.depth`, nats.depth, 1);
  checker.integer(`${path}.nats.ackWaitMs`, nats.ackWaitMs, 1);
}

/** `checkpoint.store`: a directory (a non-empty string) or `{nats: {servers, bucket, ...}}`. */
export function checkNatsStore(checker: Checker, store: unknown): void {
  const path = "checkpoint.store";
  if (!isRecord(store)) {
    checker.string(path, store, true);
    return;
  }
  checker.problems.keys(path, store, DESCRIPTION_KEYS.natsStoreRef);
  const nats = store.nats;
  if (!checker.record(`${path}.nats`, nats, "{servers, bucket, lockTtlMs?, tokenEnv?, ...}")) {
    return;
  }
  checkConnection(checker, `${path}.nats`, nats, DESCRIPTION_KEYS.natsStore);
  if (typeof nats.bucket !== "string" || !BUCKET.test(nats.bucket)) {
    checker.problems.add(
      `${path}.nats.bucket`,
      nats.bucket === undefined ? "is required" : "must be 1-64 of A-Z a-z 0-9 _ -",
      nats.bucket,
    );
  }
  checker.integer(`${path}.nats.lockTtlMs`, nats.lockTtlMs, 3);
}

/** The value of environment variable `name`, named by `where` (a clear error when unset). */
function envValue(name: string, where: string, what: string, action: string): string {
  let value: string | undefined;
  try {
    value = Deno.env.get(name);
  } catch (error) {
    throw new PipelineBuildError(
      action,
      `${where}: cannot read the environment variable ${name} holding the ${what} (${
        (error as Error).message
      })`,
      { received: name, cause: error },
    );
  }
  if (value === undefined || value === "") {
    throw new PipelineBuildError(
      action,
      `${where}: the environment variable ${name} holding the ${what} is not set`,
      { received: name },
    );
  }
  return value;
}

/**
 * The connect options of a checked `nats` object at `where`: its environment variables read and
 * its files resolved against `base` (a missing variable is a {@linkcode PipelineBuildError}).
 */
export function natsConnectOf(
  nats: NatsConnectionRef,
  base: URL,
  where: string,
  action: string,
): NatsConnectOptions {
  const out: NatsConnectOptions = { servers: nats.servers };
  if (nats.tokenEnv !== undefined) {
    out.token = envValue(nats.tokenEnv, `${where}.tokenEnv`, "NATS token", action);
  }
  if (nats.user !== undefined) {
    out.user = nats.user;
    out.pass = envValue(nats.passEnv!, `${where}.passEnv`, `password of ${nats.user}`, action);
  }
  if (nats.credsFile !== undefined) {
    out.credsFile = pathOf(nats.credsFile, base, `${where}.credsFile`, action);
  }
  if (nats.tls !== undefined) {
    const tls: Record<string, string> = {};
    for (const [key, file] of Object.entries(nats.tls)) {
      if (file !== undefined) tls[key] = pathOf(file, base, `${where}.tls.${key}`, action);
    }
    out.tls = tls;
  }
  return out;
}
