// Child process of load_test.ts: prints what the loader decided.
import { createFrameBuffer, nativeStatus } from "../mod.ts";

const s = nativeStatus();
console.log(`implementation=${s.implementation} reason=${s.reason ?? ""}`);
for (const implementation of ["auto", "native"] as const) {
  try {
    const impl = createFrameBuffer({ x: "Float64Array" }, { implementation }).implementation;
    console.log(`frameBuffer(${implementation})=${impl}`);
  } catch (error) {
    console.log(
      `frameBuffer(${implementation})=${(error as Error).name}: ${(error as Error).message}`,
    );
  }
}
