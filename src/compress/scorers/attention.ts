/**
 * Shared maths of the attention-based scorers: the observation-window rows of a PrefillRecord, 'same' 1-D
 * pooling, GQA reduction and CriticalKV's value-output norm. GQA convention (Hugging Face repeat_kv): query
 * head h reads KV head floor(h / G), G = H / H_kv.
 */
import type { ModelSpec, ModelWeights } from '../../model/spec.ts';
import type { PrefillRecord } from '../../runtime/types.ts';
import type { RecordContext } from '../types.ts';
import { KvoptError } from '../../util/errors.ts';

/** The effective window: min(w, T); the record must hold at least that many rows. */
export function effectiveWindow(record: PrefillRecord, w: number, method: string): number {
  const T = record.tokens.length;
  const we = Math.min(w, T);
  if (we > record.window) {
    throw new KvoptError(
      `method ${method}: needs an observation window of ${we} queries but the prefill recorded ${record.window}; ` + `prefill with a window of at least ${we}`,
    );
  }
  return we;
}

/** View of the last w rows of layer l's window attention: A(h, i, j), i in 0..w-1 (query T-w+i), j in 0..T-1. */
export function windowRows(record: PrefillRecord, layer: number, w: number) {
  const T = record.tokens.length;
  const A = record.windowAttention[layer]; // [Hq, wRec, T]
  const wRec = record.window;
  const skip = wRec - w;
  return (h: number, i: number, j: number): number => A[(h * wRec + skip + i) * T + j];
}

/**
 * 1-D pooling, stride 1, padding k//2 ('same' for odd k), as PyTorch avg_pool1d / max_pool1d with
 * padding = k//2: avg divides by k with the zero padding counted (count_include_pad = True), max ignores the
 * padding (PyTorch pads max pooling with -inf).
 */
export function pool1d(x: Float64Array, kernel: number, type: 'avg' | 'max'): Float64Array {
  const n = x.length;
  const r = Math.floor(kernel / 2);
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const lo = Math.max(0, j - r);
    const hi = Math.min(n - 1, j + r);
    if (type === 'avg') {
      let s = 0;
      for (let t = lo; t <= hi; t++) s += x[t];
      out[j] = s / kernel;
    } else {
      let m = -Infinity;
      for (let t = lo; t <= hi; t++) m = Math.max(m, x[t]);
      out[j] = m;
    }
  }
  return out;
}

/** [Hq, n] per query head → [Hkv, n] per KV head, by mean or max over each group. */
export function reduceGroups(perHead: Float64Array, Hq: number, Hkv: number, n: number, how: 'mean' | 'max'): Float64Array {
  const G = Hq / Hkv;
  const out = new Float64Array(Hkv * n);
  for (let k = 0; k < Hkv; k++) {
    for (let j = 0; j < n; j++) {
      let acc = how === 'max' ? -Infinity : 0;
      for (let g = 0; g < G; g++) {
        const v = perHead[(k * G + g) * n + j];
        acc = how === 'max' ? Math.max(acc, v) : acc + v;
      }
      out[k * n + j] = how === 'max' ? acc : acc / G;
    }
  }
  return out;
}

/**
 * The value-output norms [Hkv, n] of layer `layer`: the record's precomputed ones (ModelRuntime.ensureValueNorms,
 * one float64 graph run per prefill) when present, else valueOutputNorms below (the JavaScript reference).
 */
export function projectedValueNorms(ctx: RecordContext, layer: number, n: number): Float64Array {
  const pre = ctx.record.valueNorms?.[layer];
  if (!pre) return valueOutputNorms(ctx.record, ctx.spec, ctx.weights, layer, n);
  const T = ctx.record.tokens.length;
  const Hkv = ctx.spec.numKvHeads;
  const out = new Float64Array(Hkv * n);
  for (let k = 0; k < Hkv; k++) out.set(pre.subarray(k * T, k * T + n), k * n);
  return out;
}

/**
 * CriticalKV's projected value norm: for KV head k and token j < n, the mean over the query heads h of k's
 * group of ||v_j · W_o^(h)||_1, W_o^(h) = columns h·hd..(h+1)·hd of o_proj ([D, H·hd], y = W_o x).
 */
export function valueOutputNorms(record: PrefillRecord, spec: ModelSpec, weights: ModelWeights, layer: number, n: number): Float64Array {
  const { numHeads: Hq, numKvHeads: Hkv, headDim: hd, hiddenSize: D } = spec;
  const G = Hq / Hkv;
  const T = record.tokens.length;
  const V = record.cache.layers[layer].values; // [Hkv, T, hd]
  const wo = weights.layers[layer].wo; // [D, Hq*hd]
  const cols = Hq * hd;
  const out = new Float64Array(Hkv * n);
  const Wh = new Float64Array(hd * D); // W_o^(h) as [hd, D], contiguous along d
  const y = new Float64Array(D);
  for (let k = 0; k < Hkv; k++) {
    for (let g = 0; g < G; g++) {
      const h = k * G + g;
      for (let c = 0; c < hd; c++) for (let d = 0; d < D; d++) Wh[c * D + d] = wo[d * cols + h * hd + c];
      for (let j = 0; j < n; j++) {
        const vOff = (k * T + j) * hd;
        y.fill(0);
        for (let c = 0; c < hd; c++) {
          const vc = V[vOff + c];
          const row = c * D;
          for (let d = 0; d < D; d++) y[d] += vc * Wh[row + d];
        }
        let norm = 0;
        for (let d = 0; d < D; d++) norm += Math.abs(y[d]);
        out[k * n + j] += norm / G;
      }
    }
  }
  return out;
}
