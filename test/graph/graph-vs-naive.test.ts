/**
 * The ONNX graph against the independent naive forward pass (test/reference/naive-llama.ts) on seeded random tiny
 * models: logits of every position, K (after RoPE) / V of every layer, attention probabilities.
 */
import { test } from 'node:test';
import type { ModelSpec } from '../../src/model/spec.ts';
import { naiveForward } from '../reference/naive-llama.ts';
import { assertClose, randomTokens, testCacheDir, tinyModel, tinyRuntime } from '../runtime/helpers.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';

const CASES: [string, Partial<ModelSpec>][] = [
  ['GQA 4/2, half RoPE, untied', {}],
  ['MHA 4/4, interleaved RoPE, tied', { numKvHeads: 4, rope: 'interleaved', tieWordEmbeddings: true }],
  ['Qwen2-style q/k/v bias, GQA 4/1, head 16', { architecture: 'qwen2', attentionBias: true, numKvHeads: 1, headDim: 16 }],
  [
    'Llama-3 rope scaling, interleaved, 3 layers',
    {
      numLayers: 3,
      rope: 'interleaved',
      ropeTheta: 500000,
      ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
    },
  ],
  [
    'Llama-3 rope scaling, half RoPE, tied, 6/2 heads',
    {
      numHeads: 6,
      numKvHeads: 2,
      tieWordEmbeddings: true,
      ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32 },
    },
  ],
];

for (const [name, overrides] of CASES) {
  test(`graph == naive forward: ${name}`, async () => {
    const rt = await tinyRuntime(overrides, 11);
    const { spec, weights } = rt.model;
    const { vocabSize: V, numLayers: L, numHeads: H } = spec;
    const tokens = randomTokens(40, V, 5);
    const T = tokens.length;
    const ref = naiveForward(spec, weights, tokens);

    // all logits of a one-run pass
    const all = await rt.step([rt.emptyCache()], [tokens], { logits: 'all' });
    for (let t = 0; t < T; t++) assertClose(all.logits[0].subarray(t * V, (t + 1) * V), ref.logits[t], 1e-4, `logits at ${t}`);

    // K/V and attention statistics of a prefill with the whole prompt as window
    const rec = await rt.prefill(tokens, { window: T });
    assertClose(rec.lastLogits, ref.logits[T - 1], 1e-4, 'prefill last logits');
    for (let l = 0; l < L; l++) {
      assertClose(rec.cache.layers[l].keys, ref.keys[l], 1e-4, `keys layer ${l}`);
      assertClose(rec.cache.layers[l].values, ref.values[l], 1e-4, `values layer ${l}`);
      assertClose(rec.windowAttention[l], ref.attention[l], 1e-5, `attention layer ${l}`);
      const sums = new Float64Array(H * T);
      for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) for (let t = 0; t < T; t++) sums[h * T + t] += ref.attention[l][(h * T + i) * T + t];
      assertClose(rec.attentionColumnSums[l], sums, 1e-4, `column sums layer ${l}`);
    }
    await rt.release();
  });
}

test('graph == naive forward at non-contiguous positions (kept tokens keep their positions)', async () => {
  const rt = await tinyRuntime({ rope: 'interleaved' }, 3);
  const { spec, weights } = rt.model;
  const V = spec.vocabSize;
  const tokens = randomTokens(12, V, 9);
  const start = 50;
  const ref = naiveForward(
    spec,
    weights,
    tokens,
    tokens.map((_, i) => start + i),
  );
  const cache = { ...rt.emptyCache(), nextPosition: start };
  const r = await rt.step([cache], [tokens], { logits: 'all' });
  for (let t = 0; t < tokens.length; t++) assertClose(r.logits[0].subarray(t * V, (t + 1) * V), ref.logits[t], 1e-4, `logits at ${t}`);
  await rt.release();
});

for (const presentOutputs of [false, true]) {
  test(`graph == naive forward with a past (chunked prefill, then decode steps), presentOutputs ${presentOutputs}`, async () => {
    const model = tinyModel({ numLayers: 2 }, 13);
    const rt = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1, graphOptions: { precision: 'fp32', presentOutputs } });
    const { spec, weights } = model;
    const { vocabSize: V, numLayers: L } = spec;
    const tokens = randomTokens(30, V, 8);
    const T = tokens.length;
    const ref = naiveForward(spec, weights, tokens);
    const rec = await rt.prefill(tokens.slice(0, 24), { window: 24, chunkSize: 7 }); // chunks 7+7+7+3: every later chunk has a past
    assertClose(rec.lastLogits, ref.logits[23], 1e-4, 'prefill last logits');
    for (let l = 0; l < L; l++) {
      assertClose(rec.cache.layers[l].keys, keysUpTo(ref.keys[l], spec.numKvHeads, T, 24, spec.headDim), 1e-4, `keys layer ${l}`);
      assertClose(rec.windowAttention[l], attentionUpTo(ref.attention[l], spec.numHeads, T, 24), 1e-5, `attention layer ${l}`);
    }
    // the rest one token at a time, as a batch of two rows (the batched path)
    let caches = [rec.cache, rec.cache];
    for (let t = 24; t < T; t++) {
      const r = await rt.step(caches, [[tokens[t]], [tokens[t]]]);
      assertClose(r.logits[0], ref.logits[t], 1e-4, `decode logits at ${t}`);
      assertClose(r.logits[1], ref.logits[t], 1e-4, `decode logits at ${t} (second row)`);
      caches = r.caches;
    }
    await rt.release();
  });
}

/** Entries 0..n-1 of a [Hkv, T, hd] array. */
function keysUpTo(a: Float32Array | Float64Array | number[], Hkv: number, T: number, n: number, hd: number): Float64Array {
  const out = new Float64Array(Hkv * n * hd);
  for (let k = 0; k < Hkv; k++) for (let i = 0; i < n * hd; i++) out[k * n * hd + i] = a[k * T * hd + i];
  return out;
}

/** Softmax rows 0..n-1 over keys 0..n-1 of a causal [H, T, T] attention (rows < n never see keys ≥ n). */
function attentionUpTo(a: Float32Array | Float64Array | number[], H: number, T: number, n: number): Float64Array {
  const out = new Float64Array(H * n * n);
  for (let h = 0; h < H; h++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[(h * n + i) * n + j] = a[(h * T + i) * T + j];
  return out;
}
