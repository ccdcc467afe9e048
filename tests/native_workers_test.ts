// Many Workers using the addon at once (napi-rs before 3.10 crashed here under Deno:
// napi-rs#3357), producer death, early stop and workerPrefetch over both transports.
import assert from "node:assert/strict";
import { activeImplementation } from "../src/native/load.ts";
import { RingQueue } from "../src/native/ring_queue.ts";
import { ProducerError } from "../src/native/errors.ts";
import { workerPrefetch } from "../src/native/worker_prefetch.ts";
import { AbortedError } from "../src/errors.ts";

const ignore = activeImplementation() !== "native";
const WORKER = new URL("./native/ring_worker.ts", import.meta.url);

function spawn(): Worker {
  return new Worker(WORKER, { type: "module" });
}

function reply<T>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    w.onmessage = (e) => resolve(e.data as T);
    w.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  });
}

Deno.test({
  name: "RingQueue: 8 producer Workers and 4 consumer Workers share queues with the main thread",
  ignore,
  async fn() {
    const producers = 8;
    const count = 300;
    const up = RingQueue.create(16); // Workers -> main
    const down = RingQueue.create(64); // main -> Workers
    const workers = Array.from({ length: producers + 4 }, spawn);
    try {
      const done = workers.slice(0, producers).map((w, i) => {
        const r = reply<{ done?: true; error?: string }>(w);
        w.postMessage({ role: "produce", id: up.id, worker: i, count, size: 4096 });
        return r;
      });
      const consumed = workers.slice(producers).map((w) => {
        const r = reply<{ n: number; sum: number }>(w);
        w.postMessage({ role: "consume", id: down.id });
        return r;
      });
      // Main: take everything the producers send and forward one byte per message downstream.
      const perWorker = new Array(producers).fill(0);
      let received = 0;
      const pending: Uint8Array[] = [];
      const forward = async () => {
        while (pending.length > 0) {
          if (down.tryPush(pending[0]!)) pending.shift();
          else await new Promise((r) => setTimeout(r, 1));
        }
      };
      for await (const batch of up.batches(32)) {
        for (const m of batch) {
          assert.equal(m.length, 4096);
          perWorker[m[0]!]++;
          pending.push(new Uint8Array([1]));
        }
        received += batch.length;
        await forward();
        if (received === producers * count) up.close();
      }
      for (const r of await Promise.all(done)) assert.deepEqual(r, { done: true });
      assert.deepEqual(perWorker, new Array(producers).fill(count));
      down.close();
      const results = await Promise.all(consumed);
      assert.equal(results.reduce((a, r) => a + r.n, 0), producers * count);
      assert.equal(results.reduce((a, r) => a + r.sum, 0), producers * count);
    } finally {
      for (const w of workers) w.terminate();
      up.release();
      down.release();
    }
  },
});

Deno.test({
  name: "RingQueue: a producer Worker that crashes (uncaught error) fails the queue (no hang)",
  ignore,
  async fn() {
    using q = RingQueue.create(8);
    const w = new Worker(
      "data:application/javascript," + encodeURIComponent(`
        import { RingQueue } from ${
        JSON.stringify(new URL("../src/native/ring_queue.ts", import.meta.url).href)
      };
        self.onmessage = (e) => {
          const q = RingQueue.open(e.data);
          q.attachProducer();
          q.push(new Uint8Array([1]));
          q.push(new Uint8Array([2]));
          setTimeout(() => { throw new Error("producer crashed"); }, 1);
        };`),
      { type: "module" },
    );
    const crashed = new Promise<string>((resolve) => {
      w.onerror = (e) => {
        e.preventDefault(); // handled here: the test process must not die of it
        resolve(e.message);
      };
    });
    w.postMessage(q.id);
    const got: number[] = [];
    await assert.rejects(
      async () => {
        for await (const m of q) got.push(m[0]!);
      },
      (e: unknown) =>
        e instanceof ProducerError && /ended without closing the queue/.test(e.message),
    );
    assert.deepEqual(got, [1, 2]);
    assert.match(await crashed, /producer crashed/);
    w.terminate();
  },
});

Deno.test({
  name: "RingQueue: a producer Worker that ends without closing fails the queue",
  ignore,
  async fn() {
    using q = RingQueue.create(8);
    const w = new Worker(
      "data:application/javascript," + encodeURIComponent(`
        import { RingQueue } from ${
        JSON.stringify(new URL("../src/native/ring_queue.ts", import.meta.url).href)
      };
        self.onmessage = (e) => {
          const q = RingQueue.open(e.data);
          q.attachProducer();
          q.push(new Uint8Array([42]));
          postMessage("pushed");
        };`),
      { type: "module" },
    );
    const pushed = reply<string>(w);
    w.postMessage(q.id);
    await pushed;
    w.terminate(); // its napi env is torn down: the cleanup hook fails the queue
    const got: number[] = [];
    await assert.rejects(
      async () => {
        for await (const m of q) got.push(m[0]!);
      },
      (e: unknown) =>
        e instanceof ProducerError && /ended without closing the queue/.test(e.message),
    );
    assert.deepEqual(got, [42]);
  },
});

const MODULE = new URL("./native/producer.ts", import.meta.url).href;

for (const transport of ["ring", "postMessage"] as const) {
  const t = (name: string, fn: () => Promise<void>) =>
    Deno.test({
      name: `workerPrefetch[${transport}]: ${name}`,
      ignore: transport === "ring" && ignore,
      fn,
    });

  t("delivers every item in order", async () => {
    const got: number[] = [];
    for await (
      const m of workerPrefetch(MODULE, { transport, size: 4, args: { n: 500, size: 1000 } })
    ) {
      assert.equal(m.length, 1000);
      got.push(m[0]! + 256 * m[1]!);
    }
    assert.deepEqual(got, Array.from({ length: 500 }, (_, i) => i));
  });

  t("a producer error reaches the consumer as ProducerError after earlier items", async () => {
    const got: number[] = [];
    await assert.rejects(
      async () => {
        for await (const m of workerPrefetch(MODULE, { transport, args: { n: 5, failAt: 3 } })) {
          got.push(m[0]!);
        }
      },
      (e: unknown) =>
        e instanceof ProducerError && /producer failed: Error: boom at 3/.test(e.message),
    );
    assert.deepEqual(got, [0, 1, 2]);
  });

  t("an item that is not bytes is a ProducerError naming the typed error", async () => {
    await assert.rejects(
      async () => {
        for await (const _ of workerPrefetch(MODULE, { transport, args: { n: 5, badAt: 2 } })) {
          // drain
        }
      },
      (e: unknown) =>
        e instanceof ProducerError &&
        /InvalidArgumentError: Cannot send an item from workerPrefetch: items must be ArrayBuffers or typed arrays, received 2/
          .test(e.message),
    );
  });

  t("a module that fails to load is a ProducerError", async () => {
    await assert.rejects(async () => {
      for await (const _ of workerPrefetch("file:///nonexistent/producer.ts", { transport })) {
        // nothing
      }
    }, ProducerError);
  });

  t("breaking early stops the producer (an endless one)", async () => {
    let n = 0;
    for await (const _ of workerPrefetch(MODULE, { transport, size: 2, args: { n: Infinity } })) {
      if (++n === 20) break;
    }
    assert.equal(n, 20);
  });

  t("abort rejects with AbortedError and stops the Worker", async () => {
    const ctl = new AbortController();
    let n = 0;
    await assert.rejects(async () => {
      for await (
        const _ of workerPrefetch(MODULE, { transport, signal: ctl.signal, args: { n: Infinity } })
      ) {
        if (++n === 5) ctl.abort(new Error("enough"));
      }
    }, AbortedError);
  });

  t("an abort between the call and the first next() rejects at once", async () => {
    const ctl = new AbortController();
    const it = workerPrefetch(MODULE, { transport, signal: ctl.signal, args: { n: 50 } });
    ctl.abort(new Error("changed my mind"));
    let n = 0;
    await assert.rejects(async () => {
      for await (const _ of it) n++;
    }, AbortedError);
    assert.equal(n, 0);
  });
}
