/**
 * `AdaptiveFrameBuffer`: what `createFrameBuffer()` returns when the addon is loaded. It runs
 * the faster implementation per use, as measured (docs/bench-native.md), and moves from the
 * native buffer to the TypeScript one at an empty point when the use changes.
 *
 * @module
 */

import type { ColumnsOf, FrameSchema } from "./frame_schema.ts";
import { NativeFrameBuffer } from "./native_frame_buffer.ts";
import { TsFrameBuffer } from "./ts_frame_buffer.ts";

/** Chunks (all columns) averaging fewer bytes than this go to the TS buffer (measured). */
const SMALL_CHUNK = 32 * 1024;

/**
 * The faster `FrameBuffer` implementation per use, as measured (docs/bench-native.md). Plain
 * append + take cycles of chunks of 32 KiB or more run native (one copy at append into pooled
 * Rust memory: 1.45–2.2× the TS fallback in 8 of 9 `deno bench` runs). The buffer moves to the
 * TS fallback, at the next empty point, once the caller hands taken columns back with
 * `recycle()` (both then copy into warm memory and TS saves the per-append native call: TS
 * 1.0–2.3× faster) or when a take shows chunks averaging under 32 KiB (per-call overhead: native
 * lost at 16 KiB in 2 of 4 runs). It never moves back.
 */
export class AdaptiveFrameBuffer<S extends FrameSchema = FrameSchema> {
  /** The schema given at creation. */
  readonly schema: Readonly<S>;
  #impl: NativeFrameBuffer<S> | TsFrameBuffer<S>;
  #preferTs = false;
  #appends = 0;

  /**
   * An empty buffer for `schema`, native to begin with.
   *
   * @param schema column names mapped to typed-array kinds
   * @throws {NativeLoadError} when the addon is not loaded
   */
  constructor(schema: S) {
    this.#impl = new NativeFrameBuffer(schema);
    this.schema = this.#impl.schema;
  }

  /** The implementation in use now: `"native"`, then `"ts"` once the buffer moved. */
  get implementation(): "native" | "ts" {
    return this.#impl.implementation;
  }

  /** Rows appended since the last take. */
  get rows(): number {
    return this.#impl.rows;
  }

  /** Bytes appended since the last take. */
  get byteLength(): number {
    return this.#impl.byteLength;
  }

  /** Whether the buffer is closed. */
  get closed(): boolean {
    return this.#impl.closed;
  }

  /** Append one chunk to the implementation in use. */
  append(columns: ColumnsOf<S>): void {
    this.#impl.append(columns);
    this.#appends++;
  }

  /** The concatenated columns; small chunks on average make the buffer move to TS. */
  take(): ColumnsOf<S> {
    const bytes = this.#impl.byteLength;
    const out = this.#impl.take();
    if (this.#appends > 0 && bytes / this.#appends < SMALL_CHUNK) this.#preferTs = true;
    this.#appends = 0;
    this.#switchIfEmpty();
    return out;
  }

  /** Give taken columns back; the buffer moves to TS (now, or at the next take). */
  recycle(columns: Partial<ColumnsOf<S>>): void {
    this.#impl.recycle(columns);
    this.#preferTs = true;
    this.#switchIfEmpty();
  }

  #switchIfEmpty(): void {
    if (this.#preferTs && this.#impl.implementation === "native" && this.#impl.rows === 0) {
      this.#impl.close();
      this.#impl = new TsFrameBuffer(this.schema as S);
    }
  }

  /** Free what is held; later calls throw. */
  close(): void {
    this.#impl.close();
  }

  /** Same as {@linkcode AdaptiveFrameBuffer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
