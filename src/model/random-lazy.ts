/**
 * Seeded random weights for real-sized Llama shapes (random:1b, random:8b) that never exist whole in memory: every
 * tensor is generated when it is read (a getter) from its own seed, so building a graph streams one tensor at a time
 * into the data file (fp16: converted on the way). Reading a tensor twice generates it twice; nothing is cached.
 * The same scales as randomWeights (model/random.ts), a different stream per tensor. The weights hash is over the
 * spec, the seed and this generator's version (hashing 8B generated values would take minutes and prove nothing).
 */
import { createHash } from 'node:crypto';
import type { LayerWeights, ModelSpec, ModelWeights } from './spec.ts';
import { NormalStream } from './random.ts';

const GENERATOR = 'lazy-random-v1';

/** A stable 32-bit seed for tensor `name` of model seed `seed`. */
function tensorSeed(seed: number, name: string): number {
  return createHash('sha256').update(`${GENERATOR}:${seed}:${name}`).digest().readUInt32LE(0);
}

function normal(seed: number, name: string, n: number, scale: number, offset: number): Float32Array {
  const out = new Float32Array(n);
  new NormalStream(tensorSeed(seed, name)).fill(out, scale, offset);
  return out;
}

/** Weights whose every tensor is generated on access (see the module comment). */
export function lazyRandomWeights(spec: ModelSpec, seed: number): ModelWeights {
  const D = spec.hiddenSize;
  const I = spec.intermediateSize;
  const qDim = spec.numHeads * spec.headDim;
  const kvDim = spec.numKvHeads * spec.headDim;
  const layer = (l: number): LayerWeights => {
    const m =
      (name: string, rows: number, cols: number, scale = 0.5 / Math.sqrt(cols)) =>
      () =>
        normal(seed, `${l}.${name}`, rows * cols, scale, 0);
    const norm = (name: string) => () => normal(seed, `${l}.${name}`, D, 0.1, 1);
    const bias = (name: string, n: number) => (spec.attentionBias ? normal(seed, `${l}.${name}`, n, 0.1, 0) : null);
    const gen = {
      attnNorm: norm('attnNorm'),
      wq: m('wq', qDim, D, 1 / Math.sqrt(D)),
      wk: m('wk', kvDim, D, 1 / Math.sqrt(D)),
      wv: m('wv', kvDim, D),
      wo: m('wo', D, qDim),
      ffnNorm: norm('ffnNorm'),
      wGate: m('wGate', I, D),
      wUp: m('wUp', I, D),
      wDown: m('wDown', D, I),
    };
    const w = { bq: null, bk: null, bv: null } as unknown as LayerWeights;
    for (const [k, f] of Object.entries(gen)) Object.defineProperty(w, k, { get: f, enumerable: true });
    if (spec.attentionBias) {
      Object.defineProperty(w, 'bq', { get: () => bias('bq', qDim), enumerable: true });
      Object.defineProperty(w, 'bk', { get: () => bias('bk', kvDim), enumerable: true });
      Object.defineProperty(w, 'bv', { get: () => bias('bv', kvDim), enumerable: true });
    }
    return w;
  };
  const w = { layers: Array.from({ length: spec.numLayers }, (_, l) => layer(l)) } as unknown as ModelWeights;
  Object.defineProperty(w, 'embed', { get: () => normal(seed, 'embed', spec.vocabSize * D, 1 / Math.sqrt(D), 0), enumerable: true });
  Object.defineProperty(w, 'finalNorm', { get: () => normal(seed, 'finalNorm', D, 0.1, 1), enumerable: true });
  Object.defineProperty(w, 'lmHead', {
    get: () => (spec.tieWordEmbeddings ? null : normal(seed, 'lmHead', spec.vocabSize * D, 1 / Math.sqrt(D), 0)),
    enumerable: true,
  });
  return w;
}

export function lazyWeightsHash(spec: ModelSpec, seed: number): string {
  const keys = Object.keys(spec).sort() as (keyof ModelSpec)[];
  return createHash('sha256')
    .update(JSON.stringify([GENERATOR, seed, keys.map((k) => [k, spec[k]])]))
    .digest('hex');
}

/** Parameters of a Llama of this shape, from the spec alone (tied embeddings counted once). */
export function parameterCountOfSpec(spec: ModelSpec): number {
  const D = spec.hiddenSize;
  const qDim = spec.numHeads * spec.headDim;
  const kvDim = spec.numKvHeads * spec.headDim;
  const perLayer = 2 * D + D * qDim + 2 * D * kvDim + qDim * D + 3 * D * spec.intermediateSize + (spec.attentionBias ? qDim + 2 * kvDim : 0);
  return spec.vocabSize * D * (spec.tieWordEmbeddings ? 1 : 2) + D + spec.numLayers * perLayer;
}
