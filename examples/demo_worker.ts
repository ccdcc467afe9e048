/**
 * The demo's pool worker: each worker builds per-sensor calibration tables once in `init`
 * (its state), then enriches readings with a calibrated temperature, the dew point and an
 * anomaly score. Pure and deterministic: any worker gives the same result for a reading.
 *
 * @module
 */

import { rng } from "./prng.ts";

/** A parsed reading (`s`: sensor index, `i`: line index in the dataset). */
export interface ParsedReading {
  i: number;
  t: number;
  s: number;
  temp: number;
  humidity: number;
}

/** A reading with derived values. */
export interface EnrichedReading extends ParsedReading {
  /** Calibrated temperature, °C. */
  cal: number;
  /** Dew point, °C (Magnus formula). */
  dew: number;
  /** |z-score| of the calibrated temperature against the sensor's expected range. */
  score: number;
}

/** The end-of-stream marker the demo's source sends after the last line. */
export interface EndMarker {
  end: true;
}

/** Arguments of `init`. */
export interface CalibrationArgs {
  sensors: number;
  seed: number;
}

/** A worker's state: the calibration tables. */
export interface Calibration {
  gain: Float64Array;
  offset: Float64Array;
  expectedMean: Float64Array;
  expectedSd: Float64Array;
}

/**
 * The demo's calibration: the default of `init`, so remote workers (`--module
 * examples/demo_worker.ts`, no `--args`) build the same tables as the local pool.
 */
export const DEMO_CALIBRATION: CalibrationArgs = { sensors: 64, seed: 7 };

/** Build the calibration tables (what a real worker would load from a file or a service). */
export function init(args: CalibrationArgs = DEMO_CALIBRATION): Calibration {
  const n = args.sensors;
  const random = rng(args.seed);
  const table: Calibration = {
    gain: new Float64Array(n),
    offset: new Float64Array(n),
    expectedMean: new Float64Array(n),
    expectedSd: new Float64Array(n),
  };
  for (let s = 0; s < n; s++) {
    table.gain[s] = 0.98 + 0.04 * random();
    table.offset[s] = -0.5 + random();
    table.expectedMean[s] = 17.5 + (s % 16) + 0.5 * random();
    table.expectedSd[s] = 2.2 + 0.2 * random();
  }
  return table;
}

/** Enrich one reading (the end marker passes through). */
export function process(
  state: Calibration,
  r: ParsedReading | EndMarker,
): EnrichedReading | EndMarker {
  if ("end" in r) return r;
  const s = r.s;
  const cal = r.temp * state.gain[s]! + state.offset[s]!;
  // Magnus formula, b = 17.62, c = 243.12 °C.
  const gamma = Math.log(r.humidity / 100) + (17.62 * cal) / (243.12 + cal);
  const dew = (243.12 * gamma) / (17.62 - gamma);
  const score = Math.abs(cal - state.expectedMean[s]!) / state.expectedSd[s]!;
  return { ...r, cal, dew, score };
}

export default { init, process };
