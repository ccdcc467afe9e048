import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { ProducerError } from "./errors.ts";
import { activeImplementation } from "./load.ts";
import { workerPrefetch } from "./worker_prefetch.ts";

const FORM = /^Cannot [^:]+: .+, received .+/s;
const moduleOf = (code: string) => "data:application/javascript," + encodeURIComponent(code);
const empty = moduleOf("export default function* () {}");

Deno.test("workerPrefetch: module, options, signal and args are checked at the call", () => {
  const bad: [string, () => unknown][] = [
    ["module 42", () => workerPrefetch(42 as never)],
    ['module ""', () => workerPrefetch("")],
    ["options 42", () => workerPrefetch(empty, 42 as never)],
    ["unknown key", () => workerPrefetch(empty, { sizee: 1 } as never)],
    ["transport bogus", () => workerPrefetch(empty, { transport: "bogus" as never })],
    ["signal {}", () => workerPrefetch(empty, { signal: {} as never })],
    ["args a function", () => workerPrefetch(empty, { args: () => 1 })],
    ["size 2^40", () => workerPrefetch(empty, { size: 2 ** 40 })],
  ];
  for (const [label, call] of bad) {
    assert.throws(
      call,
      (e: unknown) => e instanceof InvalidArgumentError && FORM.test(e.message),
      label,
    );
  }
});

const transports = activeImplementation() === "native"
  ? ["ring", "postMessage"] as const
  : ["postMessage"] as const;
for (const transport of transports) {
  Deno.test(`workerPrefetch[${transport}]: a failing producer is a ProducerError naming the module`, async () => {
    const module = moduleOf("export default function* () { throw new Error('boom'); }");
    await assert.rejects(
      async () => {
        for await (const _ of workerPrefetch(module, { transport })) { /* none */ }
      },
      (e: unknown) =>
        e instanceof ProducerError && FORM.test(e.message) && /Error: boom/.test(e.message) &&
        e.received === module,
    );
  });
}
