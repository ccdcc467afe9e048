// The BullMQ peer of bench/nats_compare.ts, pinned in one place: BullMQ 6 takes its Redis client
// as a constructed ioredis instance (ioredis is an optional peer dependency it does not load
// itself under Deno's ESM).
import { Queue, Worker } from "npm:bullmq@6.7.0";
import { Redis } from "npm:ioredis@6.0.0";

export { Worker };

/** A Redis connection for BullMQ (`maxRetriesPerRequest: null`, as BullMQ workers require). */
export function redisConnection(port: number): Redis {
  return new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: null });
}

/** What the bench does with a queue. */
export interface BenchQueue {
  /** Jobs completed so far (completed jobs are kept: BullMQ's default). */
  completed(): Promise<number>;
  /** Add no-op jobs, one per number. */
  add(data: number[]): Promise<void>;
  /** Close the queue and its connection. */
  close(): Promise<void>;
}

/** The queue `name` on the Redis at `port`. */
export function openQueue(port: number, name: string): BenchQueue {
  const connection = redisConnection(port);
  const queue = new Queue(name, { connection });
  return {
    completed: () => queue.getCompletedCount(),
    add: async (data) => void await queue.addBulk(data.map((d) => ({ name: "noop", data: d }))),
    close: async () => {
      await queue.close();
      connection.disconnect();
    },
  };
}
