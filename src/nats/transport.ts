/**
 * The client's Node transport with one repair: its sockets never emit an `error` with no
 * listener. The transport calls `socket.removeAllListeners()` before `destroy()` (after a
 * failed connect, an `Authorization Violation`, a close); when the server has already reset the
 * connection, Deno's `node:net` then emits `ECONNRESET` on a socket without an error listener,
 * which is an uncaught error that ends the process (or fails the test module). Here each socket
 * keeps a no-op error listener whenever the transport removes its own; the transport still sees
 * every error it listens for.
 *
 * @module
 */

import type { Socket } from "node:net";
import {
  NatsConnectionImpl,
  nodeResolveHost,
  NodeTransport,
  setTransportFactory,
} from "./client.ts";
import type { NatsConnection, NodeConnectionOptions } from "./client.ts";

const ignore = () => {};

/** Make `socket` keep an error listener across the transport's `removeAllListeners()`. */
function guard<S extends Socket>(socket: S): S {
  const s: Socket = socket;
  const remove = s.removeAllListeners.bind(s);
  s.removeAllListeners = (...args: Parameters<Socket["removeAllListeners"]>) => {
    remove(...args);
    if (s.listenerCount("error") === 0) s.on("error", ignore);
    return s;
  };
  if (socket.listenerCount("error") === 0) socket.on("error", ignore);
  return socket;
}

/** A NodeTransport whose dialled and TLS-upgraded sockets are guarded. */
function guardedTransport(): NodeTransport {
  const t = new NodeTransport();
  const dial = t.dial.bind(t);
  const startTLS = t.startTLS.bind(t);
  const tlsFirst = t.tlsFirst.bind(t);
  t.dial = async (hp) => guard(await dial(hp));
  t.startTLS = async () => guard(await startTLS());
  t.tlsFirst = async (hp) => guard(await tlsFirst(hp));
  return t;
}

/** The client's `connect`, with the guarded transport (the factory is set on every call). */
export function connectGuarded(options: NodeConnectionOptions): Promise<NatsConnection> {
  setTransportFactory({ factory: guardedTransport, dnsResolveFn: nodeResolveHost });
  return NatsConnectionImpl.connect(options);
}
