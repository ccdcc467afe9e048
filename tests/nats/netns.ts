/**
 * Test helper: a network namespace joined to the host by a veth pair (`ip netns`, `ip link`; needs
 * root and iproute2), and a TCP relay that makes a loopback-only server reachable from the
 * namespace. Names are unique per call (`spool-<hex>`, veths `sph<hex>` / `spn<hex>`), addresses
 * a random /30 of 10.213.0.0/16. {@linkcode Netns.cut} takes the host end of the link down: the
 * namespace's packets go nowhere, no reset is sent, exactly as when a host is cut off.
 *
 * Why a relay: the shared server harness (`server.ts`) binds nats-server to 127.0.0.1, which a
 * namespace cannot reach (it has a loopback of its own). {@linkcode startRelay} listens on the
 * host end of the veth and copies bytes both ways to the server; a cut link stalls the relayed
 * connection just as it would stall a direct one.
 *
 * @example
 * ```ts ignore
 * await using ns = await createNetns();
 * await using relay = startRelay(ns.hostIp, server.port);
 * // run `ip netns exec <ns.name> deno run ... --servers nats://<ns.hostIp>:<relay.port>`
 * await ns.cut();
 * ```
 *
 * @module
 */

/** A namespace and its link to the host. */
export interface Netns extends AsyncDisposable {
  /** The namespace name (`ip netns exec <name> ...`). */
  readonly name: string;
  /** The veth end on the host. */
  readonly hostIf: string;
  /** The veth end in the namespace. */
  readonly nsIf: string;
  /** The host end's address. */
  readonly hostIp: string;
  /** The namespace end's address. */
  readonly nsIp: string;
  /** The command prefix that runs a program inside the namespace. */
  readonly exec: string[];
  /** Take the host end of the link down. */
  cut(): Promise<void>;
  /** Delete the link and the namespace (idempotent; errors are collected, then thrown). */
  remove(): Promise<void>;
}

/** Run `ip` with `args`; throw with its stderr when it fails. */
export async function ip(args: string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ip", { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .output();
  } catch (cause) {
    throw new Error(
      `cannot run "ip ${args.join(" ")}": ${(cause as Error).message} (the network namespace ` +
        "tests need root and the iproute2 package: apt-get install -y iproute2)",
      { cause },
    );
  }
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `"ip ${args.join(" ")}" failed (code ${out.code}): ${dec.decode(out.stderr).trim()} ` +
        "(the network namespace tests need root and iproute2)",
    );
  }
  return dec.decode(out.stdout);
}

/**
 * Create a namespace with a veth pair to the host, both ends up with a /30 address, and the
 * namespace's loopback up. A failure at any step removes what was made, then throws.
 */
export async function createNetns(): Promise<Netns> {
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  const name = `spool-${hex}`;
  const hostIf = `sph${hex}`;
  const nsIf = `spn${hex}`;
  const base = (bytes[2]! & 0x3f) * 4; // a /30 inside 10.213.<b>.0/24
  const hostIp = `10.213.${bytes[1]}.${base + 1}`;
  const nsIp = `10.213.${bytes[1]}.${base + 2}`;
  const made = { ns: false, link: false };
  let removed: Promise<void> | undefined;
  const remove = () =>
    removed ??= (async () => {
      const errors: unknown[] = [];
      if (made.link) await ip(["link", "del", hostIf]).catch((e) => errors.push(e));
      if (made.ns) await ip(["netns", "del", name]).catch((e) => errors.push(e));
      if (errors.length > 0) throw new AggregateError(errors, `cannot remove netns ${name}`);
    })();
  try {
    await ip(["netns", "add", name]);
    made.ns = true;
    await ip(["link", "add", hostIf, "type", "veth", "peer", "name", nsIf, "netns", name]);
    made.link = true;
    await ip(["addr", "add", `${hostIp}/30`, "dev", hostIf]);
    await ip(["link", "set", hostIf, "up"]);
    await ip(["-n", name, "addr", "add", `${nsIp}/30`, "dev", nsIf]);
    await ip(["-n", name, "link", "set", nsIf, "up"]);
    await ip(["-n", name, "link", "set", "lo", "up"]);
  } catch (e) {
    await remove().catch(() => {});
    throw e;
  }
  return {
    name,
    hostIf,
    nsIf,
    hostIp,
    nsIp,
    exec: ["ip", "netns", "exec", name],
    cut: async () => void await ip(["link", "set", hostIf, "down"]),
    remove,
    [Symbol.asyncDispose]: remove,
  };
}

/** Whether `name` is a namespace `ip netns list` shows. */
export async function netnsExists(name: string): Promise<boolean> {
  const list = await ip(["netns", "list"]);
  return list.split("\n").some((line) => line.split(" ")[0] === name);
}

/** Whether the interface `name` exists on the host. */
export async function linkExists(name: string): Promise<boolean> {
  const out = await new Deno.Command("ip", {
    args: ["link", "show", name],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

/** A TCP relay from `hostname:port` to a loopback port. */
export interface Relay extends AsyncDisposable {
  /** The port it listens on. */
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Stop listening and close every relayed connection. */
  close(): Promise<void>;
}

/** Listen on `hostname` (a free port) and relay each connection to `127.0.0.1:targetPort`. */
export function startRelay(hostname: string, targetPort: number): Relay {
  const listener = Deno.listen({ hostname, port: 0 });
  const conns = new Set<Deno.Conn>();
  const pipes = new Set<Promise<unknown>>();
  let accepted = 0;
  let closed = false;
  const closeConn = (c: Deno.Conn) => {
    if (!conns.delete(c)) return;
    try {
      c.close();
    } catch { /* closed */ }
  };
  const relay = async (inbound: Deno.Conn) => {
    let outbound: Deno.Conn;
    try {
      outbound = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
    } catch {
      closeConn(inbound);
      return;
    }
    if (closed) {
      outbound.close();
      return;
    }
    conns.add(outbound);
    const copy = (from: Deno.Conn, to: Deno.Conn) =>
      from.readable.pipeTo(to.writable, { preventClose: true }).catch(() => {}).finally(() => {
        closeConn(from);
        closeConn(to);
      });
    await Promise.all([copy(inbound, outbound), copy(outbound, inbound)]);
  };
  const accepting = (async () => {
    for (;;) {
      let c: Deno.Conn;
      try {
        c = await listener.accept();
      } catch {
        return; // the listener was closed
      }
      accepted++;
      conns.add(c);
      const p = relay(c).finally(() => pipes.delete(p));
      pipes.add(p);
    }
  })();
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      closed = true;
      listener.close();
      await accepting;
      for (const c of [...conns]) closeConn(c);
      await Promise.allSettled([...pipes]);
    })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
