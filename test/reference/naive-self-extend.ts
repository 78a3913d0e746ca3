/**
 * Independent naive SelfExtend forward pass (Jin et al. 2024; algorithms.md §4.2), written from the formula in the
 * style of naive-llama.ts: plain loops, float64, no shared code with the graph or runtime.
 *
 * Keys are kept BEFORE RoPE with their absolute position, and rotated here for each use: at j for a neighbour
 * (i − j < W), at ⌊j/G⌋ when grouped, with the query rotated at ⌊i/G⌋ + W − W/G. (The graph instead stores keys
 * rotated at j and re-rotates them, so the two are independent.) A past may have lost entries (eviction): each
 * KV head of each layer lists its own entries with their original positions.
 */
import type { ModelSpec, ModelWeights } from '../../src/model/spec.ts';
import { matVec, naiveInvFreq, naiveRope, rmsNorm } from './naive-llama.ts';

export interface NaiveSelfExtend {
  group: number; // G
  window: number; // W
}

/** One KV head's entries: raw (pre-RoPE) keys, values and absolute positions. */
export interface NaiveHeadEntries {
  positions: number[];
  rawKeys: Float64Array[]; // [hd] each
  values: Float64Array[]; // [hd] each
}

/** The past of a sequence: layers × KV heads. */
export type NaivePast = NaiveHeadEntries[][];

export interface NaiveSelfExtendOutput {
  logits: Float32Array[]; // per new token [V]
  /** past + the new tokens' entries */
  past: NaivePast;
  /** per layer [Hq][q][entries of that query head's KV head (past then new)] softmax probabilities */
  attention: number[][][][];
}

function rotated(raw: Float64Array, p: number, hd: number, inv: Float64Array, style: ModelSpec['rope']): Float64Array {
  const v = Float64Array.from(raw);
  naiveRope(v, 0, hd, p, inv, style);
  return v;
}

export function emptyNaivePast(spec: ModelSpec): NaivePast {
  return Array.from({ length: spec.numLayers }, () => Array.from({ length: spec.numKvHeads }, () => ({ positions: [], rawKeys: [], values: [] })));
}

/** Keeps, in layer l head h, only the entries at indices keep(l, h) (ascending), as an eviction would. */
export function evictNaive(past: NaivePast, keep: (l: number, h: number) => number[]): NaivePast {
  return past.map((heads, l) =>
    heads.map((e, h) => {
      const idx = keep(l, h);
      return { positions: idx.map((i) => e.positions[i]), rawKeys: idx.map((i) => e.rawKeys[i]), values: idx.map((i) => e.values[i]) };
    }),
  );
}

/**
 * Runs `tokens` at `positions` after `past`; se = null is plain attention. Token t attends to every past entry
 * and to new tokens s ≤ t.
 */
export function naiveSelfExtendForward(
  spec: ModelSpec,
  w: ModelWeights,
  se: NaiveSelfExtend | null,
  tokens: number[],
  positions: number[],
  past: NaivePast = emptyNaivePast(spec),
): NaiveSelfExtendOutput {
  const { hiddenSize: D, intermediateSize: I, numHeads: H, numKvHeads: Hkv, headDim: hd, vocabSize: V } = spec;
  const Gq = H / Hkv;
  const q = tokens.length;
  const inv = naiveInvFreq(spec);
  const scale = 1 / Math.sqrt(hd);
  const xs = tokens.map((tok) => Float64Array.from({ length: D }, (_, i) => w.embed[tok * D + i]));
  const outPast: NaivePast = [];
  const attention: number[][][][] = [];

  for (let l = 0; l < spec.numLayers; l++) {
    const lw = w.layers[l];
    const heads = past[l].map((e) => ({ positions: [...e.positions], rawKeys: [...e.rawKeys], values: [...e.values] }));
    const P = heads.map((e) => e.positions.length);
    const rawQ: Float64Array[][] = []; // [t][h]
    for (let t = 0; t < q; t++) {
      const n = rmsNorm(xs[t], lw.attnNorm, spec.rmsNormEps);
      const qt = matVec(lw.wq, n, H * hd, D, lw.bq);
      const kt = matVec(lw.wk, n, Hkv * hd, D, lw.bk);
      const vt = matVec(lw.wv, n, Hkv * hd, D, lw.bv);
      rawQ.push(Array.from({ length: H }, (_, h) => qt.slice(h * hd, (h + 1) * hd)));
      for (let g = 0; g < Hkv; g++) {
        heads[g].positions.push(positions[t]);
        heads[g].rawKeys.push(kt.slice(g * hd, (g + 1) * hd));
        heads[g].values.push(vt.slice(g * hd, (g + 1) * hd));
      }
    }
    const layerAttn: number[][][] = Array.from({ length: H }, () => []);
    for (let t = 0; t < q; t++) {
      const i = positions[t];
      const ctx = new Float64Array(H * hd);
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / Gq);
        const e = heads[g];
        const n = P[g] + t + 1; // past entries, then new tokens 0..t
        const qNeighbour = rotated(rawQ[t][h], i, hd, inv, spec.rope);
        const qGrouped = se ? rotated(rawQ[t][h], Math.floor(i / se.group) + se.window - se.window / se.group, hd, inv, spec.rope) : null;
        const logits = new Float64Array(n);
        for (let s = 0; s < n; s++) {
          const j = e.positions[s];
          const grouped = se !== null && i - j >= se.window;
          const k = rotated(e.rawKeys[s], grouped ? Math.floor(j / se!.group) : j, hd, inv, spec.rope);
          const qv = grouped ? qGrouped! : qNeighbour;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += qv[d] * k[d];
          logits[s] = dot * scale;
        }
        const max = Math.max(...logits);
        let sum = 0;
        for (let s = 0; s < n; s++) sum += logits[s] = Math.exp(logits[s] - max);
        const row: number[] = [];
        for (let s = 0; s < n; s++) {
          const p = logits[s] / sum;
          row.push(p);
          for (let d = 0; d < hd; d++) ctx[h * hd + d] += p * e.values[s][d];
        }
        layerAttn[h].push(row);
      }
      const o = matVec(lw.wo, ctx, D, H * hd);
      for (let d = 0; d < D; d++) xs[t][d] += o[d];
    }
    attention.push(layerAttn);
    outPast.push(heads);
    for (let t = 0; t < q; t++) {
      const n = rmsNorm(xs[t], lw.ffnNorm, spec.rmsNormEps);
      const gate = matVec(lw.wGate, n, I, D);
      const up = matVec(lw.wUp, n, I, D);
      const act = Float64Array.from(gate, (x, k) => (x / (1 + Math.exp(-x))) * up[k]);
      const down = matVec(lw.wDown, act, D, I);
      for (let d = 0; d < D; d++) xs[t][d] += down[d];
    }
  }
  const head = w.lmHead ?? w.embed;
  const logits = xs.map((x) => Float32Array.from(matVec(head, rmsNorm(x, w.finalNorm, spec.rmsNormEps), V, D)));
  return { logits, past: outPast, attention };
}
