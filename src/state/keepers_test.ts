/** LatestStatesKeeper: which snapshots retention removes. */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { LatestStatesKeeper } from "./keepers.ts";
import type { SnapshotInfo } from "./snapshot_reader.ts";

const info = (sequence: number) => ({ sequence, path: `/s/${sequence}` }) as SnapshotInfo;

for (const bad of [-1, 1.5, NaN, Infinity, "2", undefined]) {
  Deno.test(`LatestStatesKeeper: maxKeep ${String(bad)} (not an integer >= 0) is refused`, () => {
    assert.throws(() => new LatestStatesKeeper(bad as number), InvalidArgumentError);
  });
}

Deno.test("LatestStatesKeeper: maxKeep 0 is accepted", () => {
  assert.equal(new LatestStatesKeeper(0).maxKeep, 0);
});

Deno.test("LatestStatesKeeper: select returns all but the newest by sequence, not by order given", () => {
  const keeper = new LatestStatesKeeper(2);
  assert.deepEqual(keeper.select([info(5), info(1), info(9), info(3)]).map((i) => i.sequence), [
    1,
    3,
  ]);
});

Deno.test("LatestStatesKeeper: select removes nothing when there are fewer than maxKeep", () => {
  assert.deepEqual(new LatestStatesKeeper(2).select([info(1)]), []);
});

Deno.test("LatestStatesKeeper: keeping 0 selects every snapshot, oldest first", () => {
  assert.deepEqual(new LatestStatesKeeper(0).select([info(2), info(1)]).map((i) => i.sequence), [
    1,
    2,
  ]);
});
