/**
 * Cache operations written once: gather each head's kept entries (original order), pad the layer to its
 * longest head with kv_bias = -Infinity, and count what is held.
 */
import type { LayerCache } from '../runtime/types.ts';

export const FP32_BYTES = 4;

/** Runs of fewer kept entries than this are copied in a loop (measured: faster than subarray + set below ~8). */
const SHORT_RUN = 8;

/** A new layer holding, for head h, the entries at positions kept[h] (ascending) of `full`, padded to the longest head. */
export function gatherLayer(full: LayerCache, kept: Int32Array[], headDim: number): LayerCache {
  const Hkv = kept.length;
  const Pin = full.length;
  const P = Math.max(0, ...kept.map((k) => k.length));
  const keys = new Float32Array(Hkv * P * headDim);
  const values = new Float32Array(Hkv * P * headDim);
  const bias = new Float32Array(Hkv * P).fill(-Infinity);
  const positions = new Int32Array(Hkv * P); // kept entries keep their original positions (SelfExtend needs them)
  const { keys: fullKeys, values: fullValues } = full;
  for (let h = 0; h < Hkv; h++) {
    const idx = kept[h];
    // Kept positions are ascending: copy each long run of consecutive positions with one native copy; short
    // runs (scattered selections) in a loop, where a subarray + set per entry would cost more than the copy.
    for (let t = 0; t < idx.length; ) {
      let e = t + 1;
      while (e < idx.length && idx[e] === idx[e - 1] + 1) e++;
      const src = (h * Pin + idx[t]) * headDim;
      const dst = (h * P + t) * headDim;
      const n = (e - t) * headDim;
      if (e - t >= SHORT_RUN) {
        keys.set(fullKeys.subarray(src, src + n), dst);
        values.set(fullValues.subarray(src, src + n), dst);
      } else {
        for (let i = 0; i < n; i++) {
          keys[dst + i] = fullKeys[src + i];
          values[dst + i] = fullValues[src + i];
        }
      }
      for (let r = t; r < e; r++) {
        bias[h * P + r] = full.bias[h * Pin + idx[r]];
        positions[h * P + r] = full.positions ? full.positions[h * Pin + idx[r]] : idx[r];
      }
      t = e;
    }
  }
  return { keys, values, bias, length: P, positions };
}

/** Bytes of a padded fp32 layer: K and V, every head at the longest head's length. */
export function paddedLayerBytes(lengths: ArrayLike<number>, headDim: number): number {
  const P = Math.max(0, ...Array.from(lengths));
  return 2 * lengths.length * P * headDim * FP32_BYTES;
}
