/**
 * Conversion of Q/K projection rows between the two RoPE pairings (spec.ts RopeStyle).
 *
 * Within each head of size hd, 'half' rotates dims (j, j + hd/2) and 'interleaved' rotates (2j, 2j + 1).
 * llama.cpp's HF→GGUF conversion reorders rows as reshape(n_head, 2, hd/2, in).swapaxes(1, 2):
 *   interleaved row h*hd + 2j + a  =  half row h*hd + a*hd/2 + j   (a ∈ {0, 1}, j < hd/2)
 * so a model with rope 'half' and weights W equals a model with rope 'interleaved' and permuted W.
 */

/** Rows of `w` ([nHeads*hd, cols], or a bias with cols = 1) reordered from 'half' to 'interleaved' pairing. */
export function halfToInterleavedRows(w: Float32Array, nHeads: number, hd: number, cols: number): Float32Array {
  return permuteRows(w, nHeads, hd, cols, (h, j, a) => [h * hd + 2 * j + a, h * hd + a * (hd / 2) + j]);
}

function permuteRows(
  w: Float32Array,
  nHeads: number,
  hd: number,
  cols: number,
  map: (h: number, j: number, a: number) => [dst: number, src: number],
): Float32Array {
  if (w.length !== nHeads * hd * cols) throw new Error(`permuteRows: ${w.length} values, expected ${nHeads}*${hd}*${cols}`);
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < hd / 2; j++) {
      for (let a = 0; a < 2; a++) {
        const [dst, src] = map(h, j, a);
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}
