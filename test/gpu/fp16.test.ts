/**
 * fp16 graphs (GraphOptions.precision 'fp16': float16 weights and KV cache, float32 norms/softmax/logits) against
 * the fp32 graph of the same weights, on onnxruntime's CPU provider (which runs every fp16 operator of the graph):
 * max |Δ logit| over every prompt position, and greedy agreement over generated tokens, on the project's trained
 * tiny model and on a random Llama of hidden size 512. Plus: the graph really is fp16 (inputs, weights), is a
 * different build-cache entry, and a weight beyond the float16 range is refused by name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../src/model/load.ts';
import type { LoadedModel } from '../../src/model/spec.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';
import { ensureGraph, DATA_FILE } from '../../src/graph/cache.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { repoRoot } from '../helpers/shared-data.ts';
import { randomTokens, testCacheDir, tinyModel } from '../runtime/helpers.ts';

interface Agreement {
  maxLogitErr: number;
  logitScale: number; // max |logit| of the fp32 graph, for context
  greedyAgree: number; // fraction of generated tokens equal, compared up to the first difference
  firstDiff: number; // index of the first differing token (= length when none)
}

async function compare(model: LoadedModel, prompt: number[], genTokens: number): Promise<Agreement> {
  const f32 = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1 });
  const f16 = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1, graphOptions: { precision: 'fp16' } });
  const a = await f32.step([f32.emptyCache()], [prompt], { logits: 'all' });
  const b = await f16.step([f16.emptyCache()], [prompt], { logits: 'all' });
  let maxLogitErr = 0;
  let logitScale = 0;
  for (let i = 0; i < a.logits[0].length; i++) {
    maxLogitErr = Math.max(maxLogitErr, Math.abs(a.logits[0][i] - b.logits[0][i]));
    logitScale = Math.max(logitScale, Math.abs(a.logits[0][i]));
  }
  const ga = (await f32.generate(null, prompt, { maxNewTokens: genTokens, stopTokens: [] })).tokens;
  const gb = (await f16.generate(null, prompt, { maxNewTokens: genTokens, stopTokens: [] })).tokens;
  let firstDiff = 0;
  while (firstDiff < ga.length && ga[firstDiff] === gb[firstDiff]) firstDiff++;
  await f32.release();
  await f16.release();
  return { maxLogitErr, logitScale, greedyAgree: ga.filter((t, i) => t === gb[i]).length / ga.length, firstDiff };
}

// Tolerance: max |Δ logit| < 0.3 % of the largest |logit| (float16 keeps 11 significant bits, ≈ 0.05 % per rounding;
// measured 0.15 % on models/tiny and 0.08 % on the random model).
const REL_TOL = 0.003;

test('fp16 vs fp32 on models/tiny: max |Δ logit| < 0.3 % of max |logit| over 200 prompt positions, 32/32 greedy tokens equal', async (t) => {
  const model = await loadModel(join(repoRoot, 'models/tiny'));
  const doc = JSON.parse(readFileSync(join(repoRoot, 'datasets/retrieval/retrieval.jsonl'), 'utf8').split('\n')[0]).context as string;
  const prompt = model.tokenizer!.encode(doc, { addBos: true }).slice(0, 200);
  const r = await compare(model, prompt, 32);
  t.diagnostic(
    `models/tiny: max |Δ logit| ${r.maxLogitErr.toExponential(2)} (max |logit| ${r.logitScale.toFixed(1)}), greedy agreement ${r.greedyAgree}, first difference at ${r.firstDiff}`,
  );
  assert.ok(r.maxLogitErr < REL_TOL * r.logitScale, `max |Δ logit| = ${r.maxLogitErr} vs max |logit| ${r.logitScale}`);
  assert.equal(r.firstDiff, 32);
});

test('fp16 vs fp32 on a random Llama (hidden 512, 4 layers, GQA 8/4, head 64): max |Δ logit| < 0.3 % of max |logit|, greedy ≥ 90 % equal', async (t) => {
  const model = tinyModel(
    { vocabSize: 2000, hiddenSize: 512, intermediateSize: 1376, numLayers: 4, numHeads: 8, numKvHeads: 4, headDim: 64, maxPositionEmbeddings: 512 },
    5,
  );
  const r = await compare(model, randomTokens(128, 2000, 9), 32);
  t.diagnostic(
    `random hidden 512: max |Δ logit| ${r.maxLogitErr.toExponential(2)} (max |logit| ${r.logitScale.toFixed(1)}), greedy agreement ${r.greedyAgree}, first difference at ${r.firstDiff}`,
  );
  assert.ok(r.maxLogitErr < REL_TOL * r.logitScale, `max |Δ logit| = ${r.maxLogitErr} vs max |logit| ${r.logitScale}`);
  assert.ok(r.greedyAgree >= 0.9, `greedy agreement ${r.greedyAgree}`);
});

test('the fp16 graph: float16 KV inputs/outputs and weights (half the data file), its own cache entry', async () => {
  const model = tinyModel({ hiddenSize: 64, intermediateSize: 128 }, 3);
  const g32 = ensureGraph(model, { precision: 'fp32' }, testCacheDir);
  const g16 = ensureGraph(model, { precision: 'fp16' }, testCacheDir);
  assert.notEqual(g16.key, g32.key);
  const size = (p: string) => statSync(join(p, '..', DATA_FILE)).size;
  // projections and embeddings halve; the float32 norms are a few hundred bytes (plus alignment)
  assert.ok(size(g16.modelPath) < 0.52 * size(g32.modelPath), `${size(g16.modelPath)} vs ${size(g32.modelPath)}`);
  const s = await ort.InferenceSession.create(g16.modelPath);
  const types = new Map(s.inputMetadata.map((m) => [m.name, m.isTensor ? m.type : '']));
  assert.equal(types.get('past_key.0'), 'float16');
  assert.equal(types.get('past_value.1'), 'float16');
  assert.equal(types.get('kv_bias.0'), 'float32');
  const outs = new Map(s.outputMetadata.map((m) => [m.name, m.isTensor ? m.type : '']));
  assert.equal(outs.get('present_key.0'), 'float16');
  assert.equal(outs.get('logits'), 'float32');
  await s.release();
});

test('a weight beyond the float16 range is refused by name (bf16 and fp32 checkpoints alike)', () => {
  const model = tinyModel({}, 4);
  model.weights.layers[1].wDown[7] = 1.5e5; // fits bf16/fp32, not fp16
  model.weightsHash = `${model.weightsHash}-overflow`;
  assert.throws(
    () => ensureGraph(model, { precision: 'fp16' }, testCacheDir),
    (e: Error) => e instanceof KvoptError && /weight layers\.1\.w_down has 1 value\(s\) beyond the float16 range ±65504 .*use --dtype fp32/.test(e.message),
  );
  // fp32 builds it
  assert.ok(ensureGraph(model, { precision: 'fp32' }, testCacheDir).modelPath);
});
