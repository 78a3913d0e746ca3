/**
 * Seeded random Llama-family models for tests and benchmarks: a small default spec and weights whose logits are
 * O(1) (no denormals, no saturation), reproducible from a seed on every platform.
 */
import type { LayerWeights, ModelSpec, ModelWeights } from './spec.ts';

/** A small default Llama (GQA 4/2, half-split RoPE, untied, no bias); override any field. */
export function tinySpec(overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    architecture: 'llama',
    vocabSize: 64,
    hiddenSize: 32,
    intermediateSize: 48,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 8,
    maxPositionEmbeddings: 128,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    rope: 'half',
    attentionBias: false,
    tieWordEmbeddings: false,
    bosTokenId: 1,
    eosTokenId: 2,
    ...overrides,
  };
}

/** Standard normal samples from a uniform source (Box-Muller, both outputs used). */
export function gaussian(uniform: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u1 = Math.max(uniform(), 1e-12);
    const u2 = uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
}

/**
 * Random weights for `spec`: projections ~ N(0, (0.5/sqrt(fan_in))²) so activations stay O(1) through the
 * layers, except W_q and W_k at 1/sqrt(fan_in) so attention scores have std ~1 (attention not uniform);
 * embeddings and lmHead N(0, 1/D) so logits are O(1) tied or untied; norms 1 + N(0, 0.1²);
 * biases N(0, 0.1²) iff spec.attentionBias; lmHead null iff tied.
 */
export function randomWeights(spec: ModelSpec, seed: number): ModelWeights {
  const g = new NormalStream(seed);
  const D = spec.hiddenSize;
  const I = spec.intermediateSize;
  const qDim = spec.numHeads * spec.headDim;
  const kvDim = spec.numKvHeads * spec.headDim;
  const matrix = (rows: number, cols: number, scale = 0.5 / Math.sqrt(cols)): Float32Array => {
    const m = new Float32Array(rows * cols);
    g.fill(m, scale, 0);
    return m;
  };
  const norm = (n: number): Float32Array => {
    const v = new Float32Array(n);
    g.fill(v, 0.1, 1);
    return v;
  };
  const bias = (n: number): Float32Array | null => (spec.attentionBias ? matrix(1, n, 0.1) : null);

  const embed = matrix(spec.vocabSize, D, 1 / Math.sqrt(D));
  const layers: LayerWeights[] = [];
  for (let l = 0; l < spec.numLayers; l++) {
    layers.push({
      attnNorm: norm(D),
      wq: matrix(qDim, D, 1 / Math.sqrt(D)),
      wk: matrix(kvDim, D, 1 / Math.sqrt(D)),
      wv: matrix(kvDim, D),
      bq: bias(qDim),
      bk: bias(kvDim),
      bv: bias(kvDim),
      wo: matrix(D, qDim),
      ffnNorm: norm(D),
      wGate: matrix(I, D),
      wUp: matrix(I, D),
      wDown: matrix(D, I),
    });
  }
  const finalNorm = norm(D);
  // logits = W·x with x of RMS ~1 after the final norm, so rows of std 1/sqrt(D) give logits of std ~1.
  const lmHead = spec.tieWordEmbeddings ? null : matrix(spec.vocabSize, D, 1 / Math.sqrt(D));
  return { embed, layers, finalNorm, lmHead };
}

/**
 * The same numbers as gaussian(mulberry32(seed)) (Box-Muller, both outputs used, in order), with the PRNG inlined:
 * about 5x faster, which matters for ~100M-parameter benchmark models.
 */
export class NormalStream {
  private a: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  /** out[i] = offset + scale · N(0, 1). */
  fill(out: Float32Array, scale: number, offset: number): void {
    let i = 0;
    const n = out.length;
    if (this.spare !== null && n > 0) {
      out[i++] = offset + scale * this.spare;
      this.spare = null;
    }
    let a = this.a;
    while (i < n) {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const u1 = Math.max(((t ^ (t >>> 14)) >>> 0) / 4294967296, 1e-12);
      a = (a + 0x6d2b79f5) >>> 0;
      t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const u2 = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      const r = Math.sqrt(-2 * Math.log(u1));
      const th = 2 * Math.PI * u2;
      out[i++] = offset + scale * (r * Math.cos(th));
      const second = r * Math.sin(th);
      if (i < n) out[i++] = offset + scale * second;
      else this.spare = second;
    }
    this.a = a;
  }
}
