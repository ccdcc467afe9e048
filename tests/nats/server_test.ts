/** The test harness itself: a missing binary is a clear error; stop() leaves nothing behind. */

import assert from "node:assert/strict";
import { natsServerVersion, startNatsServer } from "./server.ts";

Deno.test("nats harness: a missing binary is an Error naming SPOOL_NATS_SERVER and .ci/run", async () => {
  const before = Deno.env.get("SPOOL_NATS_SERVER");
  Deno.env.set("SPOOL_NATS_SERVER", "/nonexistent/nats-server");
  try {
    await assert.rejects(() => startNatsServer(), (e: unknown) => {
      const message = (e as Error).message;
      return /SPOOL_NATS_SERVER/.test(message) && /\.ci\/run/.test(message);
    });
  } finally {
    if (before === undefined) Deno.env.delete("SPOOL_NATS_SERVER");
    else Deno.env.set("SPOOL_NATS_SERVER", before);
  }
});

Deno.test("nats harness: the binary runs and prints a v2 version (.ci/run installs v2.15.2)", async () => {
  assert.match(await natsServerVersion(), /^nats-server: v2\.\d+\.\d+/);
});

Deno.test("nats harness: stop() ends the process, frees the port and removes the folder", async () => {
  const server = await startNatsServer();
  const dir = server.storeDir.replace(/\/store$/, "");
  assert.ok((await Deno.stat(server.storeDir)).isDirectory);
  await server.stop();
  await server.stop(); // idempotent
  await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound);
  // the port is free again: it can be listened on
  const listener = Deno.listen({ hostname: "127.0.0.1", port: server.port });
  listener.close();
});
