/**
 * Cache operations written once: gather each head's kept entries (original order), pad the layer to its
 * longest head with kv_bias = -Infinity, and count what is held.
 */
import type { LayerCache } from '../runtime/types.ts';
import { gatherRows, maskedLayer } from '../runtime/batch.ts';

export const FP32_BYTES = 4;

/** A new layer holding, for head h, the entries at positions kept[h] (ascending) of `full`, padded to the longest head. */
export function gatherLayer(full: LayerCache, kept: Int32Array[], headDim: number): LayerCache {
  const out = maskedLayer(kept.length, Math.max(0, ...kept.map((k) => k.length)), headDim);
  gatherRows(full, kept, headDim, out, 0);
  return out;
}

/** Bytes of a padded fp32 layer: K and V, every head at the longest head's length. */
export function paddedLayerBytes(lengths: ArrayLike<number>, headDim: number): number {
  const P = Math.max(0, ...Array.from(lengths));
  return 2 * lengths.length * P * headDim * FP32_BYTES;
}
