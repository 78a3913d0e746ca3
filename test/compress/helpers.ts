/** Hand-built PrefillRecords and model parts for the compression tests (no runtime needed). */
import type { ModelSpec, ModelWeights } from '../../src/model/spec.ts';
import type { PrefillRecord } from '../../src/runtime/types.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';

export function spec(o: { L: number; Hq: number; Hkv: number; hd: number; D?: number }): ModelSpec {
  return {
    architecture: 'llama',
    vocabSize: 16,
    hiddenSize: o.D ?? o.Hq * o.hd,
    intermediateSize: 8,
    numLayers: o.L,
    numHeads: o.Hq,
    numKvHeads: o.Hkv,
    headDim: o.hd,
    maxPositionEmbeddings: 1024,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    rope: 'half',
    attentionBias: false,
    tieWordEmbeddings: true,
    bosTokenId: null,
    eosTokenId: null,
  };
}

/** Weights where only wo matters (the scorers read nothing else). wo: per layer [D, Hq*hd]. */
export function weights(_s: ModelSpec, wo: Float32Array[]): ModelWeights {
  const z = new Float32Array(0);
  return {
    embed: z,
    finalNorm: z,
    lmHead: null,
    layers: wo.map((w) => ({ attnNorm: z, wq: z, wk: z, wv: z, bq: null, bk: null, bv: null, wo: w, ffnNorm: z, wGate: z, wUp: z, wDown: z })),
  };
}

export interface RecordParts {
  T: number;
  window: number;
  Hq: number;
  Hkv: number;
  hd: number;
  /** Per layer: rows[h][i][j] (w × T per query head). */
  windowAttention?: number[][][][];
  /** Per layer: sums[h][j]. */
  columnSums?: number[][][];
  /** Per layer: values[k][j][c]; keys default to values + 100 (distinct from values). */
  values?: number[][][][];
  L: number;
}

export function record(p: RecordParts): PrefillRecord {
  const { T, window: w, Hq, Hkv, hd, L } = p;
  const layers = Array.from({ length: L }, (_, l) => {
    const values = new Float32Array(Hkv * T * hd);
    const keys = new Float32Array(Hkv * T * hd);
    for (let k = 0; k < Hkv; k++)
      for (let j = 0; j < T; j++)
        for (let c = 0; c < hd; c++) {
          const v = p.values?.[l]?.[k]?.[j]?.[c] ?? 1 + k + j / 8 + c / 64;
          values[(k * T + j) * hd + c] = v;
          keys[(k * T + j) * hd + c] = v + 100;
        }
    return { keys, values, bias: new Float32Array(Hkv * T), length: T };
  });
  const windowAttention = Array.from({ length: L }, (_, l) => {
    const a = new Float32Array(Hq * w * T);
    const rows = p.windowAttention?.[l];
    for (let h = 0; h < Hq; h++)
      for (let i = 0; i < w; i++)
        for (let j = 0; j < T; j++) {
          // default: uniform over the visible keys (causal inside the window)
          a[(h * w + i) * T + j] = rows ? rows[h][i][j] : j <= T - w + i ? 1 / (T - w + i + 1) : 0;
        }
    return a;
  });
  const attentionColumnSums = Array.from({ length: L }, (_, l) => {
    const s = new Float32Array(Hq * T);
    const sums = p.columnSums?.[l];
    for (let h = 0; h < Hq; h++) for (let j = 0; j < T; j++) s[h * T + j] = sums ? sums[h][j] : 1;
    return s;
  });
  return {
    tokens: Array.from({ length: T }, (_, j) => j % 16),
    cache: { layers, nextPosition: T },
    windowAttention,
    window: w,
    attentionColumnSums,
    lastLogits: new Float32Array(16),
    ms: 0,
  };
}

/** A random but well-formed record: causal softmax-like window rows, positive column sums, N(0,1)-ish K/V. */
export function randomRecord(seed: number, o: { L: number; Hq: number; Hkv: number; hd: number; T: number; window: number }): PrefillRecord {
  const r = mulberry32(seed);
  const { L, Hq, T, window: w } = o;
  const rec = record({ ...o });
  for (let l = 0; l < L; l++) {
    const a = rec.windowAttention[l];
    for (let h = 0; h < Hq; h++)
      for (let i = 0; i < w; i++) {
        const q = T - w + i;
        let s = 0;
        for (let j = 0; j <= q; j++) {
          const e = Math.exp(3 * r());
          a[(h * w + i) * T + j] = e;
          s += e;
        }
        for (let j = 0; j <= q; j++) a[(h * w + i) * T + j] /= s;
      }
    const cs = rec.attentionColumnSums[l];
    for (let i = 0; i < cs.length; i++) cs[i] = r() * 5;
    const { keys, values } = rec.cache.layers[l];
    for (let i = 0; i < keys.length; i++) {
      keys[i] = 2 * r() - 1;
      values[i] = 2 * r() - 1;
    }
  }
  return rec;
}

export function randomWo(seed: number, L: number, D: number, cols: number): Float32Array[] {
  const r = mulberry32(seed);
  return Array.from({ length: L }, () => Float32Array.from({ length: D * cols }, () => 2 * r() - 1));
}

export const sixteenths = (xs: number[]) => xs.map((x) => x / 16);

/**
 * Checks KIVI's error bound on one head-major layer of n entries per head (no eviction): quantised keys (per
 * channel, groups of `group` tokens, first n − n mod R tokens) and values (per token, groups of `group`
 * channels, all but the last R) are within scale/2 of the original; the residual is exact. Returns
 * { maxErr, changed } for "really quantised" checks.
 */
export function checkKiviLayer(
  orig: { keys: Float32Array; values: Float32Array },
  got: { keys: Float32Array; values: Float32Array },
  Hkv: number,
  n: number,
  hd: number,
  bits: number,
  group: number,
  R: number,
): { maxErr: number; changed: number } {
  const levels = 2 ** bits - 1;
  let maxErr = 0;
  let changed = 0;
  /**
   * One quantised group: with lo = min, scale = (max − min)/(2^b − 1) of the originals, every dequantised value
   * is lo + q·scale for an integer code q in [0, 2^b − 1] (it fits in b bits and lies on the grid), within
   * scale/2 of its original; the group's minimum and maximum are represented exactly by codes 0 and 2^b − 1.
   */
  const checkGroup = (xs: number[], ys: number[], what: string) => {
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    const scale = (hi - lo) / levels;
    xs.forEach((x, i) => {
      const y = ys[i];
      const err = Math.abs(y - x);
      if (!(err <= scale / 2 + 1e-6)) throw new Error(`${what}: error ${err} > scale/2 = ${scale / 2}`);
      if (scale === 0) {
        if (y !== lo) throw new Error(`${what}: constant group must dequantise to ${lo}, got ${y}`);
      } else {
        const q = (y - lo) / scale;
        const code = Math.round(q);
        if (Math.abs(q - code) > 1e-3) throw new Error(`${what}: ${y} is not on the ${bits}-bit grid (code ${q})`);
        if (code < 0 || code > levels) throw new Error(`${what}: code ${code} does not fit in ${bits} bits`);
        if (x === lo && code !== 0) throw new Error(`${what}: the group minimum must get code 0, got ${code}`);
        if (x === hi && code !== levels) throw new Error(`${what}: the group maximum must get code ${levels}, got ${code}`);
      }
      maxErr = Math.max(maxErr, err);
      if (err > 0) changed++;
    });
  };
  for (let h = 0; h < Hkv; h++) {
    const at = (t: number, c: number) => (h * n + t) * hd + c;
    const nqK = R > 0 ? n - (n % R) : n;
    for (let c = 0; c < hd; c++)
      for (let t0 = 0; t0 < n; t0 += group) {
        const ts = Array.from({ length: Math.min(group, n - t0) }, (_, i) => t0 + i);
        const xs = ts.map((t) => orig.keys[at(t, c)]);
        const ys = ts.map((t) => got.keys[at(t, c)]);
        if (t0 < nqK) checkGroup(xs, ys, `key h${h} t${t0}.. c${c}`);
        else if (xs.some((x, i) => x !== ys[i])) throw new Error(`key residual h${h} t${t0}.. changed`);
      }
    for (let t = 0; t < n; t++)
      for (let c0 = 0; c0 < hd; c0 += group) {
        const cs = Array.from({ length: Math.min(group, hd - c0) }, (_, i) => c0 + i);
        const xs = cs.map((c) => orig.values[at(t, c)]);
        const ys = cs.map((c) => got.values[at(t, c)]);
        if (t < n - R) checkGroup(xs, ys, `value h${h} t${t} c${c0}..`);
        else if (xs.some((x, i) => x !== ys[i])) throw new Error(`value residual h${h} t${t} changed`);
      }
  }
  return { maxErr, changed };
}
