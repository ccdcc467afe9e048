// Child process of load_test.ts: prints what the loader decided.
import { createFrameBuffer, nativeStatus } from "../mod.ts";

const s = nativeStatus();
console.log(`implementation=${s.implementation} reason=${s.reason ?? ""}`);
try {
  console.log(`frameBuffer=${createFrameBuffer({ x: "Float64Array" }).implementation}`);
} catch (error) {
  console.log(`frameBuffer=${(error as Error).name}: ${(error as Error).message}`);
}
