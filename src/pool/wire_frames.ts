/**
 * Length-prefixed frames (4-byte little-endian length, then the body) over a byte stream, for
 * the process backend. Pieces are kept as they arrive and joined once per complete frame, so a
 * large frame costs one copy, not one per piece.
 *
 * @module
 */

/** Encode one frame. */
export function encodeFrame(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length, true);
  frame.set(body, 4);
  return frame;
}

/** Split a byte stream into frame bodies. */
export class FrameDecoder {
  #pieces: Uint8Array[] = [];
  #size = 0;
  #need = -1;

  /** Add bytes; returns the frame bodies completed by them, in order. */
  push(piece: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (piece.length > 0) {
      this.#pieces.push(piece);
      this.#size += piece.length;
    }
    for (;;) {
      if (this.#need < 0) {
        if (this.#size < 4) break;
        const head = this.#take(4);
        this.#need = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
      }
      if (this.#size < this.#need) break;
      out.push(this.#take(this.#need));
      this.#need = -1;
    }
    return out;
  }

  #take(n: number): Uint8Array {
    const first = this.#pieces[0];
    if (first !== undefined && first.length >= n) {
      const r = first.subarray(0, n);
      if (first.length === n) this.#pieces.shift();
      else this.#pieces[0] = first.subarray(n);
      this.#size -= n;
      return r;
    }
    const r = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const p = this.#pieces[0]!;
      const k = Math.min(p.length, n - off);
      r.set(p.subarray(0, k), off);
      off += k;
      if (k === p.length) this.#pieces.shift();
      else this.#pieces[0] = p.subarray(k);
    }
    this.#size -= n;
    return r;
  }
}
