/**
 * Batching of per-sequence KV caches: each layer is padded to the batch's longest cache with kv_bias = −inf,
 * and the new entries a run produced are appended to each sequence's own cache again (padding dropped).
 */
import type { KvCache, LayerCache } from './types.ts';

export interface PaddedLayer {
  keys: Float32Array; // [B, Hkv, Pmax, hd]
  values: Float32Array; // [B, Hkv, Pmax, hd]
  bias: Float32Array; // [B, Hkv, 1, Pmax]
  length: number; // Pmax
  /** Absolute position per entry (absent: entry t at position t); padding slots hold 0. */
  positions?: Int32Array; // [B, Hkv, Pmax]
}

export function emptyLayerCache(): LayerCache {
  return { keys: new Float32Array(0), values: new Float32Array(0), bias: new Float32Array(0), length: 0 };
}

export function emptyCache(numLayers: number): KvCache {
  return { layers: Array.from({ length: numLayers }, emptyLayerCache), nextPosition: 0 };
}

/**
 * Layer `l` of B caches as one padded batch, with `spare` more masked slots per row for the tokens a decode
 * loop will append; a batch of one without spare slots is passed through without copying.
 */
export function padLayer(caches: KvCache[], l: number, Hkv: number, hd: number, spare = 0): PaddedLayer {
  if (caches.length === 1 && spare === 0) return caches[0].layers[l];
  const B = caches.length;
  let P = spare;
  for (const c of caches) P = Math.max(P, c.layers[l].length + spare);
  const keys = new Float32Array(B * Hkv * P * hd);
  const values = new Float32Array(B * Hkv * P * hd);
  const bias = new Float32Array(B * Hkv * P).fill(-Infinity);
  const positions = new Int32Array(B * Hkv * P);
  for (let b = 0; b < B; b++) {
    const c = caches[b].layers[l];
    const Pb = c.length;
    for (let h = 0; h < Hkv; h++) {
      const dst = (b * Hkv + h) * P;
      keys.set(c.keys.subarray(h * Pb * hd, (h + 1) * Pb * hd), dst * hd);
      values.set(c.values.subarray(h * Pb * hd, (h + 1) * Pb * hd), dst * hd);
      bias.set(c.bias.subarray(h * Pb, (h + 1) * Pb), dst);
      if (c.positions) positions.set(c.positions.subarray(h * Pb, (h + 1) * Pb), dst);
      else for (let t = 0; t < Pb; t++) positions[dst + t] = t;
    }
  }
  return { keys, values, bias, length: P, positions };
}

/**
 * The cache of sequence b after a run: its own entries (with their bias) followed by its first `added` new
 * entries (bias 0) at positions start, start+1, …. newK/newV are the run's `new_key`/`new_value` [B, Hkv, q, hd].
 * Positions are recorded once they are not simply 0..N−1 (see LayerCache.positions).
 */
export function appendLayer(
  old: LayerCache,
  newK: Float32Array,
  newV: Float32Array,
  b: number,
  q: number,
  added: number,
  Hkv: number,
  hd: number,
  start: number = old.length,
): LayerCache {
  const P = old.length;
  const N = P + added;
  const keys = new Float32Array(Hkv * N * hd);
  const values = new Float32Array(Hkv * N * hd);
  const bias = new Float32Array(Hkv * N);
  const positions = old.positions || start !== P ? new Int32Array(Hkv * N) : undefined;
  for (let h = 0; h < Hkv; h++) {
    if (positions) {
      if (old.positions) positions.set(old.positions.subarray(h * P, (h + 1) * P), h * N);
      else for (let t = 0; t < P; t++) positions[h * N + t] = t;
      for (let t = 0; t < added; t++) positions[h * N + P + t] = start + t;
    }
    keys.set(old.keys.subarray(h * P * hd, (h + 1) * P * hd), h * N * hd);
    values.set(old.values.subarray(h * P * hd, (h + 1) * P * hd), h * N * hd);
    bias.set(old.bias.subarray(h * P, (h + 1) * P), h * N);
    const src = (b * Hkv + h) * q * hd;
    keys.set(newK.subarray(src, src + added * hd), (h * N + P) * hd);
    values.set(newV.subarray(src, src + added * hd), (h * N + P) * hd);
  }
  return positions ? { keys, values, bias, length: N, positions } : { keys, values, bias, length: N };
}
