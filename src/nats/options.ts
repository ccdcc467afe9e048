/**
 * The options of {@linkcode connectNats}, checked once: unknown keys refused, one way to
 * authenticate at most, files named by the options present before the client reads them.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { optionalString, optionsOf } from "../_internal/options.ts";

/** Paths of the PEM files for TLS (all optional: `caFile` alone trusts a private CA). */
export interface NatsTlsOptions {
  /** The CA certificate that signed the server's certificate. */
  caFile?: string;
  /** The client certificate (mutual TLS; with `keyFile`). */
  certFile?: string;
  /** The client key (with `certFile`). */
  keyFile?: string;
}

/** How {@linkcode connectNats} reaches and authenticates to NATS. At most one way to authenticate. */
export interface NatsConnectOptions {
  /** One URL or several (`nats://host:4222`); default `nats://127.0.0.1:4222`. */
  servers?: string | string[];
  /** A token (the server's `authorization { token }`). */
  token?: string;
  /** A user name, with `pass`. */
  user?: string;
  /** The password of `user`. */
  pass?: string;
  /** An NKey seed (`SU...`). */
  nkeySeed?: string;
  /** A `.creds` file (JWT and NKey seed, as `nsc` writes it). */
  credsFile?: string;
  /** TLS: the CA, and for mutual TLS the client certificate and key. */
  tls?: NatsTlsOptions;
  /** The connection's name, shown by the server's monitoring. */
  name?: string;
  /** How long the connect may take, in milliseconds (default 20000). */
  timeoutMs?: number;
}

/** The options as checked: `servers` always a non-empty list. */
export interface CheckedNatsOptions extends Omit<NatsConnectOptions, "servers"> {
  servers: string[];
}

const ACTION = "connect to NATS";
/** The keys of {@linkcode NatsConnectOptions} (option bags that extend it check theirs too). */
export const NATS_CONNECT_KEYS = [
  "servers",
  "token",
  "user",
  "pass",
  "nkeySeed",
  "credsFile",
  "tls",
  "name",
  "timeoutMs",
] as const;
const TLS_KNOWN = ["caFile", "certFile", "keyFile"] as const;

function serversOf(value: unknown): string[] {
  if (value === undefined) return ["nats://127.0.0.1:4222"];
  const list = typeof value === "string" ? [value] : value;
  if (
    !Array.isArray(list) || list.length === 0 ||
    !list.every((s) => typeof s === "string" && s.length > 0)
  ) {
    throw new InvalidArgumentError(
      ACTION,
      "servers must be a non-empty string or a non-empty array of them",
      { received: value },
    );
  }
  return list as string[];
}

function authOf(bag: Record<string, unknown>): void {
  for (const key of ["token", "user", "pass", "nkeySeed", "credsFile"]) {
    optionalString(ACTION, key, bag[key]);
  }
  if ((bag.user === undefined) !== (bag.pass === undefined)) {
    throw new InvalidArgumentError(ACTION, "user and pass go together", {
      received: { user: bag.user, pass: bag.pass === undefined ? undefined : "***" },
    });
  }
  const ways = ["token", "user", "nkeySeed", "credsFile"].filter((k) => bag[k] !== undefined);
  if (ways.length > 1) {
    throw new InvalidArgumentError(ACTION, "use one way to authenticate", { received: ways });
  }
}

function tlsOf(value: unknown): NatsTlsOptions | undefined {
  if (value === undefined) return undefined;
  const tls = optionsOf(ACTION, value, TLS_KNOWN);
  for (const key of TLS_KNOWN) optionalString(ACTION, `tls.${key}`, tls[key]);
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new InvalidArgumentError(ACTION, "tls.certFile and tls.keyFile go together", {
      received: value,
    });
  }
  return tls as NatsTlsOptions;
}

/** Every file the options name exists and is a regular file (checked before connecting). */
async function filesExist(options: NatsConnectOptions): Promise<void> {
  const files: [string, string | undefined][] = [
    ["credsFile", options.credsFile],
    ["tls.caFile", options.tls?.caFile],
    ["tls.certFile", options.tls?.certFile],
    ["tls.keyFile", options.tls?.keyFile],
  ];
  for (const [name, path] of files) {
    if (path === undefined) continue;
    const info = await Deno.stat(path).catch(() => undefined);
    if (!info?.isFile) {
      throw new InvalidArgumentError(ACTION, `${name} must name an existing file`, {
        received: path,
      });
    }
  }
}

/** Check `options` (see {@linkcode NatsConnectOptions}); throws {@linkcode InvalidArgumentError}. */
export async function checkNatsOptions(options: unknown): Promise<CheckedNatsOptions> {
  const bag = optionsOf(ACTION, options, NATS_CONNECT_KEYS);
  const servers = serversOf(bag.servers);
  authOf(bag);
  const tls = tlsOf(bag.tls);
  optionalString(ACTION, "name", bag.name);
  const timeoutMs = bag.timeoutMs;
  if (
    timeoutMs !== undefined &&
    (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0)
  ) {
    throw new InvalidArgumentError(ACTION, "timeoutMs must be a positive finite number", {
      received: timeoutMs,
    });
  }
  const checked = { ...(bag as NatsConnectOptions), servers, tls };
  await filesExist(checked);
  return checked;
}
