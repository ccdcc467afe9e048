// defineWorker: validation of a worker definition.
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { defineWorker } from "./define.ts";

Deno.test("defineWorker refuses a definition without process(), and a non-object", () => {
  assert.throws(() => defineWorker({} as never), InvalidArgumentError);
  assert.throws(
    () => defineWorker(null as never),
    /^InvalidArgumentError: Cannot define a worker: /,
  );
});

Deno.test("defineWorker lists an unknown key with the known ones, and refuses an init that is not a function", () => {
  assert.throws(
    () => defineWorker({ process: (_s: unknown, x: number) => x, dispoze: () => {} } as never),
    /unknown key "dispoze" \(known: init, process, dispose\)/,
  );
  assert.throws(
    () => defineWorker({ process: (_s: unknown, x: number) => x, init: 3 } as never),
    InvalidArgumentError,
  );
});
