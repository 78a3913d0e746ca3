/**
 * Cache operations written once: gather each head's kept entries (original order), pad the layer to its
 * longest head with kv_bias = -Infinity, and count what is held.
 */
import type { LayerCache } from '../runtime/types.ts';

export const FP32_BYTES = 4;

/** A new layer holding, for head h, the entries at positions kept[h] (ascending) of `full`, padded to the longest head. */
export function gatherLayer(full: LayerCache, kept: Int32Array[], headDim: number): LayerCache {
  const Hkv = kept.length;
  const Pin = full.length;
  const P = Math.max(0, ...kept.map((k) => k.length));
  const keys = new Float32Array(Hkv * P * headDim);
  const values = new Float32Array(Hkv * P * headDim);
  const bias = new Float32Array(Hkv * P).fill(-Infinity);
  const positions = new Int32Array(Hkv * P); // kept entries keep their original positions (SelfExtend needs them)
  for (let h = 0; h < Hkv; h++) {
    const idx = kept[h];
    // Kept positions are ascending: copy each run of consecutive positions with one native copy.
    for (let t = 0; t < idx.length; ) {
      let e = t + 1;
      while (e < idx.length && idx[e] === idx[e - 1] + 1) e++;
      const src = (h * Pin + idx[t]) * headDim;
      const dst = (h * P + t) * headDim;
      const n = (e - t) * headDim;
      keys.set(full.keys.subarray(src, src + n), dst);
      values.set(full.values.subarray(src, src + n), dst);
      bias.set(full.bias.subarray(h * Pin + idx[t], h * Pin + idx[e - 1] + 1), h * P + t);
      for (let r = t; r < e; r++) positions[h * P + r] = full.positions ? full.positions[h * Pin + idx[r]] : idx[r];
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
