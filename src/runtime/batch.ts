/**
 * Batching of per-sequence KV caches: each layer is padded to the batch's longest cache with kv_bias = −inf,
 * and the new entries a run produced are appended to each sequence's own cache again (padding dropped).
 * Compressed caches can also be gathered from a prefill straight into a padded batch (gatherRows, HostDecodeBatch),
 * which skips the per-sequence copy a padded batch of caches makes.
 */
import type { KvCache, LayerCache } from './types.ts';

/** Runs of fewer kept entries than this are copied in a loop (measured: faster than subarray + set below ~8). */
const SHORT_RUN = 8;

export interface PaddedLayer {
  keys: Float32Array; // [B, Hkv, Pmax, hd]
  values: Float32Array; // [B, Hkv, Pmax, hd]
  bias: Float32Array; // [B, Hkv, 1, Pmax]
  length: number; // Pmax
  /** Absolute position per entry (absent: entry t at position t); padding slots hold 0. */
  positions?: Int32Array; // [B, Hkv, Pmax]
}

/** A padded layer of `rows` rows (B·Hkv) and `P` slots each, every slot masked (bias −inf) until filled. */
export function maskedLayer(rows: number, P: number, hd: number): PaddedLayer {
  return {
    keys: new Float32Array(rows * P * hd),
    values: new Float32Array(rows * P * hd),
    bias: new Float32Array(rows * P).fill(-Infinity),
    length: P,
    positions: new Int32Array(rows * P),
  };
}

/**
 * Writes, for KV head h, the entries of `full` at positions kept[h] (ascending) into row `firstRow + h` of `out`
 * (slots 0..kept[h].length−1; the rest keep their mask). Kept entries keep their bias and original position.
 */
export function gatherRows(full: LayerCache, kept: Int32Array[], hd: number, out: PaddedLayer, firstRow: number): void {
  const Pin = full.length;
  const P = out.length;
  const { keys: fullKeys, values: fullValues } = full;
  const { keys, values, bias, positions } = out;
  for (let h = 0; h < kept.length; h++) {
    const idx = kept[h];
    if (idx.length > P) throw new Error(`internal: ${idx.length} kept entries in a padded layer of ${P} slots`);
    const row = (firstRow + h) * P;
    // Kept positions are ascending: copy each long run of consecutive positions with one native copy; short
    // runs (scattered selections) in a loop, where a subarray + set per entry would cost more than the copy.
    for (let t = 0; t < idx.length; ) {
      let e = t + 1;
      while (e < idx.length && idx[e] === idx[e - 1] + 1) e++;
      const src = (h * Pin + idx[t]) * hd;
      const dst = (row + t) * hd;
      const n = (e - t) * hd;
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
        bias[row + r] = full.bias[h * Pin + idx[r]];
        positions![row + r] = full.positions ? full.positions[h * Pin + idx[r]] : idx[r];
      }
      t = e;
    }
  }
}

/** Per layer, buffers a HostDecodeBatch lays its rows out in; kept between batches so their memory is reused. */
export class HostBatchBuffers {
  private layers: { keys: Float32Array; values: Float32Array; bias: Float32Array; positions: Int32Array }[] = [];

  /**
   * Layer l as a padded layer of `rows` rows of P slots, every slot masked (bias −inf, position 0). Reused K/V
   * slots are not cleared: a masked slot's attention weight is exactly 0 whatever finite K/V it holds.
   */
  layer(l: number, rows: number, P: number, hd: number): PaddedLayer {
    const slots = rows * P;
    let b = this.layers[l];
    if (!b || b.bias.length < slots) {
      // grow with headroom, so a batch a little longer than the last does not reallocate
      const cap = Math.ceil(slots * 1.25);
      b = this.layers[l] = {
        keys: new Float32Array(cap * hd),
        values: new Float32Array(cap * hd),
        bias: new Float32Array(cap),
        positions: new Int32Array(cap),
      };
    }
    const bias = b.bias.subarray(0, slots).fill(-Infinity);
    const positions = b.positions.subarray(0, slots).fill(0);
    return { keys: b.keys.subarray(0, slots * hd), values: b.values.subarray(0, slots * hd), bias, length: P, positions };
  }
}

/**
 * B compressed caches gathered from one prefill straight into a padded batch (per layer [B, Hkv, P_l, hd], P_l the
 * longest kept head of the batch): the host counterpart of DeviceDecodeCache, for runs that read the batch without
 * extending it (continuation and answer scoring). Its layers are views of `buffers`, lent until dispose().
 */
export class HostDecodeBatch {
  private constructor(
    readonly layers: PaddedLayer[],
    readonly nextPositions: number[],
    private readonly returnBuffers: () => void,
  ) {}

  get rows(): number {
    return this.nextPositions.length;
  }

  /** kept[b][l][h]: the positions of `full` that row b keeps in layer l, KV head h. */
  static gather(full: KvCache, kept: Int32Array[][][], Hkv: number, hd: number, buffers: HostBatchBuffers, returnBuffers: () => void): HostDecodeBatch {
    const B = kept.length;
    const layers = full.layers.map((layer, l) => {
      let P = 0;
      for (const k of kept) for (const idx of k[l]) P = Math.max(P, idx.length);
      const out = buffers.layer(l, B * Hkv, P, hd);
      kept.forEach((k, b) => gatherRows(layer, k[l], hd, out, b * Hkv));
      return out;
    });
    return new HostDecodeBatch(
      layers,
      kept.map(() => full.nextPosition),
      returnBuffers,
    );
  }

  /** Gives the buffers back for the next batch; the batch must not be read after. */
  dispose(): void {
    this.returnBuffers();
  }
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
  const out = maskedLayer(B * Hkv, P, hd);
  const { keys, values, bias, positions } = out;
  for (let b = 0; b < B; b++) {
    const c = caches[b].layers[l];
    const Pb = c.length;
    for (let h = 0; h < Hkv; h++) {
      const dst = (b * Hkv + h) * P;
      keys.set(c.keys.subarray(h * Pb * hd, (h + 1) * Pb * hd), dst * hd);
      values.set(c.values.subarray(h * Pb * hd, (h + 1) * Pb * hd), dst * hd);
      bias.set(c.bias.subarray(h * Pb, (h + 1) * Pb), dst);
      if (c.positions) positions!.set(c.positions.subarray(h * Pb, (h + 1) * Pb), dst);
      else for (let t = 0; t < Pb; t++) positions![dst + t] = t;
    }
  }
  return out;
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
