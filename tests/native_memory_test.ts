// Memory is released: 40 append/take cycles of 64 MiB (2.5 GiB in total) keep the peak RSS of a
// child process far below the total, through the native external buffers' finalizers.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { activeImplementation } from "../src/native/load.ts";

const script = fileURLToPath(new URL("./native/rss_loop.ts", import.meta.url));

async function peak(impl: string, gc: "gc" | "nogc"): Promise<number> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", script, impl, "40", gc],
    env: { SPOOL_NATIVE_POOL_MB: "128" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, out + new TextDecoder().decode(stderr));
  const result = JSON.parse(out.trim().split("\n").pop()!) as { peakMiB: number; checksum: number };
  assert.equal(result.checksum, 40, "every take had the right last value");
  return result.peakMiB;
}

Deno.test({
  name: "memory: native FrameBuffer takes are freed after GC (bounded RSS over 2.5 GiB)",
  ignore: activeImplementation() !== "native",
  async fn() {
    // With a GC per cycle: one 64 MiB column being built, one taken, the 128 MiB page pool.
    const withGc = await peak("native", "gc");
    assert.ok(withGc < 450, `peak RSS ${withGc} MiB with gc()`);
    // Left to V8's own heuristics (the engine is told about the external bytes).
    const auto = await peak("native", "nogc");
    assert.ok(auto < 1280, `peak RSS ${auto} MiB without gc()`);
  },
});

Deno.test("memory: TS FrameBuffer takes are freed (bounded RSS over 2.5 GiB)", async () => {
  const auto = await peak("ts", "nogc");
  assert.ok(auto < 1280, `peak RSS ${auto} MiB`);
});

Deno.test({
  name: "memory: columns taken in a Worker and freed never drive another env's accounting negative",
  ignore: activeImplementation() !== "native",
  async fn() {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        fileURLToPath(new URL("./native/cross_env.ts", import.meta.url)),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(code, 0, out);
    assert.match(out, /survived/);
  },
});
