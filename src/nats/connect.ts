/**
 * {@linkcode connectNats}: one checked way to open a NATS connection with JetStream, returning a
 * small handle that closes once.
 *
 * @module
 */

import { describe } from "../errors.ts";
import {
  AuthorizationError,
  credsAuthenticator,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type KV,
  Kvm,
  type KvOptions,
  type NatsConnection,
  NatsTimeoutError,
  nkeyAuthenticator,
  type NodeConnectionOptions,
  type ObjectStore,
  type ObjectStoreOptions,
  Objm,
} from "./client.ts";
import { NatsConnectError } from "./errors.ts";
import { connectGuarded } from "./transport.ts";
import { type CheckedNatsOptions, checkNatsOptions, type NatsConnectOptions } from "./options.ts";

/**
 * An open connection: the client objects, bucket openers, and one `close()`.
 *
 * `nc`, `js` and `jsm` are the client's own objects (`NatsConnection`, `JetStreamClient`,
 * `JetStreamManager` of `@nats-io/*` 3.4.0, the versions pinned in `src/nats/client.ts`); `kv()`
 * and `obj()` return its `KV` and `ObjectStore`. Their documentation is the client's; these
 * members are left out of spool's generated documentation (`@ignore`), which would otherwise
 * have to re-export the client's whole type graph.
 */
export interface NatsHandle {
  /**
   * The core connection.
   * @ignore
   */
  readonly nc: NatsConnection;
  /**
   * The JetStream client (publish, consumers).
   * @ignore
   */
  readonly js: JetStreamClient;
  /**
   * The JetStream manager (streams, consumers).
   * @ignore
   */
  readonly jsm: JetStreamManager;
  /**
   * Open the KV bucket `bucket`, creating it when absent.
   * @ignore
   */
  kv(bucket: string, options?: Partial<KvOptions>): Promise<KV>;
  /**
   * Open the object store `bucket`, creating it when absent.
   * @ignore
   */
  obj(bucket: string, options?: Partial<ObjectStoreOptions>): Promise<ObjectStore>;
  /** Drain and close the connection (idempotent). */
  close(): Promise<void>;
  /** Same as {@linkcode NatsHandle.close}. */
  [Symbol.asyncDispose](): Promise<void>;
}

const ACTION = "connect to NATS";

/** The client's options for the checked ones (credentials files read here). */
async function clientOptions(o: CheckedNatsOptions): Promise<NodeConnectionOptions> {
  const out: NodeConnectionOptions = {
    servers: o.servers,
    timeout: o.timeoutMs ?? 20_000,
    // a failed first connect is reported at once; a dropped connection later reconnects
    waitOnFirstConnect: false,
  };
  if (o.name !== undefined) out.name = o.name;
  if (o.token !== undefined) out.token = o.token;
  if (o.user !== undefined) (out.user = o.user), (out.pass = o.pass);
  if (o.nkeySeed !== undefined) {
    out.authenticator = nkeyAuthenticator(new TextEncoder().encode(o.nkeySeed));
  }
  if (o.credsFile !== undefined) {
    out.authenticator = credsAuthenticator(await Deno.readFile(o.credsFile));
  }
  if (o.tls !== undefined) out.tls = { ...o.tls };
  return out;
}

/** The reason a connect failed, in the project's words. */
function reasonOf(error: unknown, o: CheckedNatsOptions): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : describe(error);
  if (error instanceof AuthorizationError || /authoriz|authentic/i.test(text)) {
    return `the server refused the credentials (${text})`;
  }
  if (error instanceof NatsTimeoutError || /timeout/i.test(text)) {
    return `no answer within ${o.timeoutMs ?? 20_000} ms (${text})`;
  }
  if (/ECONNREFUSED|refused|ENOTFOUND|unreachable|connection/i.test(text)) {
    return `no server is reachable (${text})`;
  }
  return `the client failed (${text})`;
}

/** The handle's KV and object-store openers and close, around an open connection. */
function handleOf(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager): NatsHandle {
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      if (nc.isClosed()) return;
      await nc.drain().catch(() => nc.close());
    })();
  return {
    nc,
    js,
    jsm,
    kv: (bucket, options) => new Kvm(js).create(bucket, options),
    obj: (bucket, options) => new Objm(js).create(bucket, options),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Connect to NATS with JetStream. Options are checked first ({@linkcode InvalidArgumentError}
 * for a bad one); a server that cannot be reached, refuses the credentials, does not answer in
 * time or has no JetStream is a {@linkcode NatsConnectError} (the client's error as `cause`).
 *
 * @example
 * ```ts ignore
 * import { connectNats } from "@spool/spool/nats";
 * await using nats = await connectNats({ servers: "nats://127.0.0.1:4222", token: "s3cret" });
 * const kv = await nats.kv("spool-locks");
 * await kv.create("run-1", "owner-a"); // fails when the key exists: a lock
 * ```
 */
export async function connectNats(options?: NatsConnectOptions): Promise<NatsHandle> {
  const checked = await checkNatsOptions(options);
  let nc: NatsConnection;
  try {
    nc = await connectGuarded(await clientOptions(checked));
  } catch (cause) {
    throw new NatsConnectError(ACTION, reasonOf(cause, checked), {
      received: checked.servers.join(","),
      cause,
    });
  }
  try {
    const jsm = await jetstreamManager(nc);
    return handleOf(nc, jetstream(nc), jsm);
  } catch (cause) {
    await nc.close();
    const text = describe(cause);
    const reason = /not enabled|no responders|503/i.test(text)
      ? `the server has no JetStream (start nats-server with -js) (${text})`
      : `the JetStream API did not answer (${text})`;
    throw new NatsConnectError(ACTION, reason, { received: checked.servers.join(","), cause });
  }
}
