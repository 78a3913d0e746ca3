/**
 * LoadedModel from weights already in memory (seeded random models for tests and `bench --model random:<preset>`).
 */
import type { LoadedModel, ModelSpec, ModelWeights, TextTokenizer } from '../model/spec.ts';
import { randomWeights, tinySpec } from '../model/random.ts';
import { weightsHash } from '../model/hash.ts';
import { lazyRandomWeights, lazyWeightsHash } from '../model/random-lazy.ts';
import { KvoptError } from '../util/errors.ts';

export function inMemoryModel(spec: ModelSpec, weights: ModelWeights, label: string, tokenizer: TextTokenizer | null = null): LoadedModel {
  return {
    spec,
    weights,
    tokenizer,
    source: { kind: 'random', path: label },
    weightsHash: weightsHash(spec, weights),
  };
}

/**
 * Seeded random Llama presets for benchmarks: tiny (the test model), 100m (~102M parameters, fp32 ~410 MB), and the
 * real shapes 1b (Llama-3.2-1B: 1.24B, fp16 2.5 GB) and 8b (Llama-3.1-8B: 8.03B, fp16 16 GB), whose weights are
 * generated tensor by tensor while a graph is built (model/random-lazy.ts) and never held whole.
 */
export const RANDOM_PRESETS: Record<string, Partial<ModelSpec>> = {
  tiny: {},
  '100m': {
    vocabSize: 32000,
    hiddenSize: 768,
    intermediateSize: 2304,
    numLayers: 12,
    numHeads: 12,
    numKvHeads: 4,
    headDim: 64,
    maxPositionEmbeddings: 2048,
    tieWordEmbeddings: true,
  },
  '1b': {
    vocabSize: 128256,
    hiddenSize: 2048,
    intermediateSize: 8192,
    numLayers: 16,
    numHeads: 32,
    numKvHeads: 8,
    headDim: 64,
    maxPositionEmbeddings: 16384,
    ropeTheta: 500000,
    tieWordEmbeddings: true,
  },
  '8b': {
    vocabSize: 128256,
    hiddenSize: 4096,
    intermediateSize: 14336,
    numLayers: 32,
    numHeads: 32,
    numKvHeads: 8,
    headDim: 128,
    maxPositionEmbeddings: 16384,
    ropeTheta: 500000,
    tieWordEmbeddings: false,
  },
};

/** Presets generated lazily (too large to hold as float32). */
const LAZY_PRESETS = new Set(['1b', '8b']);

/** `random:<preset>[:seed]` → a seeded random LoadedModel (no tokenizer). */
export function randomModelFromRef(ref: string): LoadedModel {
  const [, preset = '', seedText = '1'] = ref.split(':');
  const overrides = RANDOM_PRESETS[preset];
  if (!overrides) throw new KvoptError(`--model ${ref}: unknown random preset '${preset}' (expected one of ${Object.keys(RANDOM_PRESETS).join(', ')})`);
  const seed = Number(seedText);
  if (!Number.isInteger(seed)) throw new KvoptError(`--model ${ref}: seed '${seedText}' is not an integer`);
  const spec = tinySpec(overrides);
  if (LAZY_PRESETS.has(preset)) {
    return {
      spec,
      weights: lazyRandomWeights(spec, seed),
      tokenizer: null,
      source: { kind: 'random', path: ref },
      weightsHash: lazyWeightsHash(spec, seed),
      streamed: true,
    };
  }
  return inMemoryModel(spec, randomWeights(spec, seed), ref);
}
