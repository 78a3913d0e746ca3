/**
 * Independent naive forward pass of a Llama-family decoder: plain loops, float64 accumulation, no shared code with
 * the production graph or runtime. It is the reference every numerical test compares against.
 *
 * Only types are imported from src/model/spec.ts; all maths is written here.
 */
import type { ModelSpec, ModelWeights } from '../../src/model/spec.ts';

export interface NaiveOutput {
  logits: Float32Array[]; // per position t: [V]
  keys: Float32Array[]; // per layer: [Hkv, T, hd], AFTER RoPE
  values: Float32Array[]; // per layer: [Hkv, T, hd]
  attention: Float32Array[]; // per layer: [Hq, T, T] softmax probabilities (causal; row = query, col = key)
}

/** y = W x with W stored [out, in] row-major, plus optional bias b. */
export function matVec(W: Float32Array, x: Float64Array, out: number, inDim: number, b: Float32Array | null = null): Float64Array {
  if (W.length !== out * inDim) throw new Error(`naive: weight has ${W.length} values, expected ${out}x${inDim}`);
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < inDim; i++) s += W[o * inDim + i] * x[i];
    y[o] = s;
  }
  return y;
}

/** RMSNorm(v) * g = v / sqrt(mean(v²) + eps) * g. */
export function rmsNorm(v: Float64Array, g: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < v.length; i++) ss += v[i] * v[i];
  const inv = 1 / Math.sqrt(ss / v.length + eps);
  const y = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) y[i] = v[i] * inv * g[i];
  return y;
}

/**
 * RoPE inverse frequencies inv_freq_i = theta^(-2i/hd), i in [0, hd/2), with the Llama-3 adjustment when
 * spec.ropeScaling is set (HF `_compute_llama3_parameters`): wavelengths shorter than original/highFreqFactor
 * are kept, longer than original/lowFreqFactor are divided by `factor`, and in between interpolated smoothly.
 */
export function naiveInvFreq(spec: ModelSpec): Float64Array {
  const hd = spec.headDim;
  const f = new Float64Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) f[i] = spec.ropeTheta ** ((-2 * i) / hd);
  const s = spec.ropeScaling;
  if (s) {
    const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    for (let i = 0; i < f.length; i++) {
      const wavelen = (2 * Math.PI) / f[i];
      if (wavelen < highFreqWavelen) continue;
      if (wavelen > lowFreqWavelen) {
        f[i] = f[i] / s.factor;
      } else {
        const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        f[i] = (1 - smooth) * (f[i] / s.factor) + smooth * f[i];
      }
    }
  }
  return f;
}

/** Rotates one head vector v (length hd, at offset `off`) in place for position p. */
export function naiveRope(v: Float64Array, off: number, hd: number, p: number, invFreq: Float64Array, style: ModelSpec['rope']): void {
  for (let i = 0; i < hd / 2; i++) {
    const a = p * invFreq[i];
    const c = Math.cos(a);
    const s = Math.sin(a);
    const i0 = style === 'half' ? off + i : off + 2 * i;
    const i1 = style === 'half' ? off + i + hd / 2 : off + 2 * i + 1;
    const x0 = v[i0];
    const x1 = v[i1];
    v[i0] = x0 * c - x1 * s;
    v[i1] = x0 * s + x1 * c;
  }
}

/**
 * `visible(t, s)`: whether query t attends to key s (s <= t); default all. An evicted cache entry is a key hidden
 * from every query after the prefill (the prefill itself ran with full attention).
 */
export function naiveForward(
  spec: ModelSpec,
  w: ModelWeights,
  tokens: number[],
  positions?: number[],
  visible?: (t: number, s: number) => boolean,
): NaiveOutput {
  const T = tokens.length;
  const D = spec.hiddenSize;
  const I = spec.intermediateSize;
  const H = spec.numHeads;
  const Hkv = spec.numKvHeads;
  const hd = spec.headDim;
  const V = spec.vocabSize;
  const G = H / Hkv;
  const pos = positions ?? tokens.map((_, t) => t);
  if (pos.length !== T) throw new Error('naive: positions and tokens differ in length');
  const invFreq = naiveInvFreq(spec);

  // Residual stream per position.
  const xs: Float64Array[] = tokens.map((tok) => {
    if (tok < 0 || tok >= V) throw new Error(`naive: token ${tok} out of vocab ${V}`);
    const x = new Float64Array(D);
    for (let i = 0; i < D; i++) x[i] = w.embed[tok * D + i];
    return x;
  });

  const keysOut: Float32Array[] = [];
  const valuesOut: Float32Array[] = [];
  const attnOut: Float32Array[] = [];

  for (let l = 0; l < spec.numLayers; l++) {
    const lw = w.layers[l];
    const q: Float64Array[] = [];
    const k: Float64Array[] = [];
    const v: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const n = rmsNorm(xs[t], lw.attnNorm, spec.rmsNormEps);
      const qt = matVec(lw.wq, n, H * hd, D, lw.bq);
      const kt = matVec(lw.wk, n, Hkv * hd, D, lw.bk);
      const vt = matVec(lw.wv, n, Hkv * hd, D, lw.bv);
      for (let h = 0; h < H; h++) naiveRope(qt, h * hd, hd, pos[t], invFreq, spec.rope);
      for (let h = 0; h < Hkv; h++) naiveRope(kt, h * hd, hd, pos[t], invFreq, spec.rope);
      q.push(qt);
      k.push(kt);
      v.push(vt);
    }
    const keys = new Float32Array(Hkv * T * hd);
    const values = new Float32Array(Hkv * T * hd);
    for (let g = 0; g < Hkv; g++) {
      for (let t = 0; t < T; t++) {
        for (let d = 0; d < hd; d++) {
          keys[(g * T + t) * hd + d] = k[t][g * hd + d];
          values[(g * T + t) * hd + d] = v[t][g * hd + d];
        }
      }
    }
    keysOut.push(keys);
    valuesOut.push(values);

    const attention = new Float32Array(H * T * T);
    const scale = 1 / Math.sqrt(hd);
    for (let t = 0; t < T; t++) {
      const ctx = new Float64Array(H * hd);
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / G);
        const scores = new Float64Array(t + 1);
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          if (visible && !visible(t, s)) {
            scores[s] = -Infinity;
            continue;
          }
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[t][h * hd + d] * k[s][g * hd + d];
          scores[s] = dot * scale;
          if (scores[s] > max) max = scores[s];
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) {
          scores[s] = Math.exp(scores[s] - max);
          sum += scores[s];
        }
        for (let s = 0; s <= t; s++) {
          const p = scores[s] / sum;
          attention[(h * T + t) * T + s] = p;
          for (let d = 0; d < hd; d++) ctx[h * hd + d] += p * v[s][g * hd + d];
        }
      }
      const o = matVec(lw.wo, ctx, D, H * hd);
      for (let i = 0; i < D; i++) xs[t][i] += o[i];
    }
    attnOut.push(attention);

    for (let t = 0; t < T; t++) {
      const n = rmsNorm(xs[t], lw.ffnNorm, spec.rmsNormEps);
      const gate = matVec(lw.wGate, n, I, D);
      const up = matVec(lw.wUp, n, I, D);
      const act = new Float64Array(I);
      for (let i = 0; i < I; i++) act[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i]; // silu(gate) * up
      const down = matVec(lw.wDown, act, D, I);
      for (let i = 0; i < D; i++) xs[t][i] += down[i];
    }
  }

  const head = w.lmHead ?? w.embed;
  const logits = xs.map((x) => {
    const n = rmsNorm(x, w.finalNorm, spec.rmsNormEps);
    return Float32Array.from(matVec(head, n, V, D));
  });
  return { logits, keys: keysOut, values: valuesOut, attention: attnOut };
}
