/** Hand-built PrefillRecords and model parts for the compression tests (no runtime needed). */
import type { ModelSpec, ModelWeights } from '../../src/model/spec.ts';
import type { PrefillRecord } from '../../src/runtime/types.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';

export function spec(o: { L: number; Hq: number; Hkv: number; hd: number; D?: number }): ModelSpec {
  return {
    architecture: 'llama', vocabSize: 16, hiddenSize: o.D ?? o.Hq * o.hd, intermediateSize: 8, numLayers: o.L,
    numHeads: o.Hq, numKvHeads: o.Hkv, headDim: o.hd, maxPositionEmbeddings: 1024, rmsNormEps: 1e-5,
    ropeTheta: 10000, ropeScaling: null, rope: 'half', attentionBias: false, tieWordEmbeddings: true,
    bosTokenId: null, eosTokenId: null,
  };
}

/** Weights where only wo matters (the scorers read nothing else). wo: per layer [D, Hq*hd]. */
export function weights(_s: ModelSpec, wo: Float32Array[]): ModelWeights {
  const z = new Float32Array(0);
  return {
    embed: z, finalNorm: z, lmHead: null,
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
          a[(h * w + i) * T + j] = rows ? rows[h]![i]![j]! : j <= T - w + i ? 1 / (T - w + i + 1) : 0;
        }
    return a;
  });
  const attentionColumnSums = Array.from({ length: L }, (_, l) => {
    const s = new Float32Array(Hq * T);
    const sums = p.columnSums?.[l];
    for (let h = 0; h < Hq; h++) for (let j = 0; j < T; j++) s[h * T + j] = sums ? sums[h]![j]! : 1;
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
    const a = rec.windowAttention[l]!;
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
    const cs = rec.attentionColumnSums[l]!;
    for (let i = 0; i < cs.length; i++) cs[i] = r() * 5;
    const { keys, values } = rec.cache.layers[l]!;
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
  Hkv: number, n: number, hd: number, bits: number, group: number, R: number,
): { maxErr: number; changed: number } {
  const levels = 2 ** bits - 1;
  let maxErr = 0;
  let changed = 0;
  const note = (err: number, bound: number, what: string) => {
    if (!(err <= bound / 2 + 1e-6)) throw new Error(`${what}: error ${err} > scale/2 = ${bound / 2}`);
    maxErr = Math.max(maxErr, err);
    if (err > 0) changed++;
  };
  for (let h = 0; h < Hkv; h++) {
    const at = (t: number, c: number) => (h * n + t) * hd + c;
    const nqK = R > 0 ? n - (n % R) : n;
    for (let c = 0; c < hd; c++)
      for (let t0 = 0; t0 < n; t0 += group) {
        const ts = Array.from({ length: Math.min(group, n - t0) }, (_, i) => t0 + i);
        const xs = ts.map((t) => orig.keys[at(t, c)]!);
        const scale = (Math.max(...xs) - Math.min(...xs)) / levels;
        for (const t of ts) {
          const err = Math.abs(got.keys[at(t, c)]! - orig.keys[at(t, c)]!);
          if (t < nqK) note(err, scale, `key h${h} t${t} c${c}`);
          else if (err !== 0) throw new Error(`key residual h${h} t${t} changed`);
        }
      }
    for (let t = 0; t < n; t++)
      for (let c0 = 0; c0 < hd; c0 += group) {
        const cs = Array.from({ length: Math.min(group, hd - c0) }, (_, i) => c0 + i);
        const xs = cs.map((c) => orig.values[at(t, c)]!);
        const scale = (Math.max(...xs) - Math.min(...xs)) / levels;
        for (const c of cs) {
          const err = Math.abs(got.values[at(t, c)]! - orig.values[at(t, c)]!);
          if (t < n - R) note(err, scale, `value h${h} t${t} c${c}`);
          else if (err !== 0) throw new Error(`value residual h${h} t${t} changed`);
        }
      }
  }
  return { maxErr, changed };
}
