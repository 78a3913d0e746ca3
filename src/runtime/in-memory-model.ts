/**
 * LoadedModel from weights already in memory (seeded random models for tests and `bench --model random:<preset>`).
 */
import type { LoadedModel, ModelSpec, ModelWeights, TextTokenizer } from '../model/spec.ts';
import { randomWeights, tinySpec } from '../model/random.ts';
import { weightsHash } from '../model/hash.ts';
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

/** Seeded random Llama presets for benchmarks: tiny (the test model) and 100m (~102M parameters, fp32 ~410 MB). */
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
};

/** `random:<preset>[:seed]` → a seeded random LoadedModel (no tokenizer). */
export function randomModelFromRef(ref: string): LoadedModel {
  const [, preset = '', seedText = '1'] = ref.split(':');
  const overrides = RANDOM_PRESETS[preset];
  if (!overrides) throw new KvoptError(`--model ${ref}: unknown random preset '${preset}' (expected one of ${Object.keys(RANDOM_PRESETS).join(', ')})`);
  const seed = Number(seedText);
  if (!Number.isInteger(seed)) throw new KvoptError(`--model ${ref}: seed '${seedText}' is not an integer`);
  const spec = tinySpec(overrides);
  return inMemoryModel(spec, randomWeights(spec, seed), ref);
}
