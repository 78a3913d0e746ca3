/**
 * Compressed and batched caches: keep-all equals the uncompressed cache exactly; kv_bias = −inf equals physical
 * removal (per layer and per head); layers of different lengths run in one step; B different caches (padded with
 * kv_bias) in one run equal B separate runs; generateBatch and answerLogLikelihood agree with single runs and naive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KvCache } from '../../src/runtime/types.ts';
import { naiveForward } from '../reference/naive-llama.ts';
import { assertClose, maxAbsDiff, randomTokens, tinyRuntime } from './helpers.ts';
import { padLayer } from '../../src/runtime/batch.ts';
import { gatherLayer } from '../../src/compress/cache.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';

/** Physically keeps entries keep(l, h) (same count for every head of a layer) of `cache`. */
function gather(cache: KvCache, Hkv: number, hd: number, keep: (l: number, h: number) => number[]): KvCache {
  return {
    nextPosition: cache.nextPosition,
    layers: cache.layers.map((c, l) => {
      const n = keep(l, 0).length;
      const keys = new Float32Array(Hkv * n * hd);
      const values = new Float32Array(Hkv * n * hd);
      const bias = new Float32Array(Hkv * n);
      for (let h = 0; h < Hkv; h++) {
        const idx = keep(l, h);
        assert.equal(idx.length, n);
        idx.forEach((t, j) => {
          keys.set(c.keys.subarray((h * c.length + t) * hd, (h * c.length + t + 1) * hd), (h * n + j) * hd);
          values.set(c.values.subarray((h * c.length + t) * hd, (h * c.length + t + 1) * hd), (h * n + j) * hd);
          bias[h * n + j] = c.bias[h * c.length + t];
        });
      }
      return { keys, values, bias, length: n };
    }),
  };
}

/** Same cache with bias −inf on the entries drop(l, h). */
function mask(cache: KvCache, Hkv: number, drop: (l: number, h: number) => number[]): KvCache {
  return {
    nextPosition: cache.nextPosition,
    layers: cache.layers.map((c, l) => {
      const bias = c.bias.slice();
      for (let h = 0; h < Hkv; h++) for (const t of drop(l, h)) bias[h * c.length + t] = -Infinity;
      return { ...c, bias };
    }),
  };
}

const range = (n: number) => [...Array(n).keys()];
const without = (n: number, drop: number[]) => range(n).filter((t) => !drop.includes(t));

test('keep-all cache == uncompressed cache exactly; both continue the prompt like the naive forward', async () => {
  const rt = await tinyRuntime({}, 31);
  const { spec, weights } = rt.model;
  const { numKvHeads: Hkv, headDim: hd, vocabSize: V } = spec;
  const prompt = randomTokens(20, V, 1);
  const question = randomTokens(4, V, 2);
  const rec = await rt.prefill(prompt, { chunkSize: 8 });
  const kept = gather(rec.cache, Hkv, hd, () => range(20));
  const a = await rt.step([rec.cache], [question], { logits: 'all' });
  const b = await rt.step([kept], [question], { logits: 'all' });
  assert.deepEqual(b.logits, a.logits, 'keep-all logits differ from the uncompressed cache');
  assert.deepEqual(b.caches, a.caches);
  const ref = naiveForward(spec, weights, [...prompt, ...question]);
  for (let i = 0; i < question.length; i++) assertClose(a.logits[0].subarray(i * V, (i + 1) * V), ref.logits[20 + i], 1e-4, `question logits ${i}`);
  await rt.release();
});

test('kv_bias = -inf equals physically removing the entries (per layer and per head)', async () => {
  const rt = await tinyRuntime({ numLayers: 3 }, 32);
  const { numKvHeads: Hkv, headDim: hd, vocabSize: V } = rt.spec;
  const rec = await rt.prefill(randomTokens(20, V, 3));
  const question = randomTokens(3, V, 4);
  const base = await rt.step([rec.cache], [question], { logits: 'all' });

  // per layer: the same entries dropped in every head
  const layerDrop = (l: number) => (l === 1 ? [0, 5, 9, 19] : []);
  const masked = await rt.step([mask(rec.cache, Hkv, (l) => layerDrop(l))], [question], { logits: 'all' });
  const removed = await rt.step([gather(rec.cache, Hkv, hd, (l) => without(20, layerDrop(l)))], [question], { logits: 'all' });
  assertClose(masked.logits[0], removed.logits[0], 1e-5, 'per-layer mask vs removal');
  assert.ok(maxAbsDiff(masked.logits[0], base.logits[0]) > 1e-3, 'dropping entries should change the logits');

  // per head: different entries per head, same count
  const headDrop = (l: number, h: number) => (h === 0 ? [1, 3, 4 + l] : [7, 10 + l, 15]);
  const maskedH = await rt.step([mask(rec.cache, Hkv, headDrop)], [question], { logits: 'all' });
  const removedH = await rt.step([gather(rec.cache, Hkv, hd, (l, h) => without(20, headDrop(l, h)))], [question], { logits: 'all' });
  assertClose(maskedH.logits[0], removedH.logits[0], 1e-5, 'per-head mask vs removal');
  assert.equal(V * 3, maskedH.logits[0].length);
  await rt.release();
});

test('layers with different cache lengths run in one step', async () => {
  const rt = await tinyRuntime({ numLayers: 3 }, 33);
  const { numKvHeads: Hkv, headDim: hd, vocabSize: V } = rt.spec;
  const rec = await rt.prefill(randomTokens(20, V, 5));
  const keepByLayer = [range(20), [0, 1, 2, 10, 17, 18, 19], [3, 19]];
  const ragged = gather(rec.cache, Hkv, hd, (l) => keepByLayer[l]);
  const r = await rt.step([ragged], [[7, 8]]);
  assert.deepEqual(
    r.caches[0].layers.map((c) => c.length),
    [22, 9, 4],
  );
  assert.equal(r.caches[0].nextPosition, 22);
  // the same as masking the dropped entries at full length
  const masked = mask(rec.cache, Hkv, (l) => without(20, keepByLayer[l]));
  const m = await rt.step([masked], [[7, 8]]);
  assertClose(r.logits[0], m.logits[0], 1e-5, 'ragged layers vs masked');
  // the new entries are appended after the kept ones with bias 0
  const layer1 = r.caches[0].layers[1];
  assert.deepEqual([...layer1.bias.subarray(0, 9)], new Array(9).fill(0));
  await rt.release();
});

test('a batch of different caches in one run == separate runs (logits and returned caches)', async () => {
  const rt = await tinyRuntime({ numLayers: 3, numHeads: 6, numKvHeads: 2 }, 34);
  const { numKvHeads: Hkv, headDim: hd, vocabSize: V } = rt.spec;
  const recA = await rt.prefill(randomTokens(20, V, 6));
  const recB = await rt.prefill(randomTokens(13, V, 7), { chunkSize: 5 });
  const caches = [
    recA.cache,
    gather(recA.cache, Hkv, hd, (l) => (l === 0 ? range(20) : l === 1 ? [0, 4, 8, 12, 16, 19] : [2, 3, 18, 19])),
    mask(
      gather(recB.cache, Hkv, hd, (_l, h) => (h === 0 ? range(10) : [0, 1, 2, 3, 4, 5, 6, 7, 11, 12])),
      Hkv,
      (_l, h) => (h === 1 ? [2, 3] : []),
    ),
  ];
  const tokens = [randomTokens(3, V, 8), randomTokens(1, V, 9), randomTokens(2, V, 10)];
  for (const mode of ['all', 'last'] as const) {
    const batched = await rt.step(caches, tokens, { logits: mode });
    for (let b = 0; b < caches.length; b++) {
      const alone = await rt.step([caches[b]], [tokens[b]], { logits: mode });
      assertClose(batched.logits[b], alone.logits[0], 1e-5, `${mode} logits of sequence ${b}`);
      assert.equal(batched.caches[b].nextPosition, alone.caches[0].nextPosition);
      for (let l = 0; l < 3; l++) {
        const x = batched.caches[b].layers[l];
        const y = alone.caches[0].layers[l];
        assert.equal(x.length, y.length, `sequence ${b} layer ${l}: padding must be dropped`);
        assertClose(x.keys, y.keys, 1e-6, `keys ${b}/${l}`);
        assertClose(x.values, y.values, 1e-6, `values ${b}/${l}`);
        assert.deepEqual(x.bias, y.bias);
      }
    }
  }
  await rt.release();
});

test('generateBatch == separate generate (greedy and seeded sampling); sampling is seed-deterministic', async () => {
  const rt = await tinyRuntime({}, 35);
  const { numKvHeads: Hkv, headDim: hd, vocabSize: V } = rt.spec;
  const rec = await rt.prefill(randomTokens(16, V, 11));
  const caches = [rec.cache, gather(rec.cache, Hkv, hd, () => [0, 1, 2, 3, 12, 13, 14, 15]), null];
  const prompts = [randomTokens(2, V, 12), randomTokens(3, V, 13), randomTokens(5, V, 14)];
  for (const temperature of [0, 0.9]) {
    const opts = { maxNewTokens: 8, temperature, seed: 5, stopTokens: [] };
    const batched = await rt.generateBatch(caches, prompts, opts);
    for (let b = 0; b < 3; b++) {
      const alone = await rt.generate(caches[b], prompts[b], opts);
      assert.deepEqual(batched[b].tokens, alone.tokens, `temperature ${temperature}, sequence ${b}`);
      assert.equal(alone.tokens.length, 8);
    }
  }
  // sequences that stop early ride along in the batch without changing the others
  const greedyAll = await rt.generateBatch(caches, prompts, { maxNewTokens: 8, stopTokens: [] });
  const stopEarly = { maxNewTokens: 8, stopTokens: [greedyAll[1].tokens[2]] };
  const batchedStop = await rt.generateBatch(caches, prompts, stopEarly);
  assert.equal(batchedStop[1].stopReason, 'stop');
  for (let b = 0; b < 3; b++)
    assert.deepEqual(batchedStop[b].tokens, (await rt.generate(caches[b], prompts[b], stopEarly)).tokens, `early stop, sequence ${b}`);
  // greedy from the empty cache == argmax of the naive forward, token by token
  const greedy = await rt.generate(null, prompts[2], { maxNewTokens: 5, stopTokens: [] });
  const seq = [...prompts[2]];
  for (let i = 0; i < 5; i++) {
    const ref = naiveForward(rt.spec, rt.model.weights, seq).logits.at(-1)!;
    const best = ref.indexOf(Math.max(...ref));
    assert.equal(greedy.tokens[i], best, `greedy token ${i}`);
    seq.push(best);
  }
  const s1 = await rt.generate(null, prompts[0], { maxNewTokens: 10, temperature: 1, seed: 1, stopTokens: [] });
  const s2 = await rt.generate(null, prompts[0], { maxNewTokens: 10, temperature: 1, seed: 2, stopTokens: [] });
  const s1again = await rt.generate(null, prompts[0], { maxNewTokens: 10, temperature: 1, seed: 1, stopTokens: [] });
  assert.deepEqual(s1again.tokens, s1.tokens);
  assert.notDeepEqual(s2.tokens, s1.tokens);
  // stop tokens end generation before the token
  const stopAt = greedy.tokens[2];
  const stopped = await rt.generate(null, prompts[2], { maxNewTokens: 5, stopTokens: [stopAt] });
  assert.equal(stopped.stopReason, 'stop');
  assert.deepEqual(stopped.tokens, greedy.tokens.slice(0, greedy.tokens.indexOf(stopAt)));
  await rt.release();
});

test('long greedy generation (decode batch grows its spare slots) == a manual step() loop', async () => {
  const rt = await tinyRuntime({ maxPositionEmbeddings: 160 }, 37);
  const V = rt.spec.vocabSize;
  const prompt = randomTokens(10, V, 21);
  const gen = await rt.generateBatch([null, null], [prompt, prompt.slice(0, 4)], { maxNewTokens: 150, stopTokens: [] });
  assert.equal(gen[0].tokens.length, 150);
  assert.equal(gen[0].stopReason, 'length');
  let r = await rt.step([rt.emptyCache()], [prompt]);
  const manual: number[] = [];
  for (let i = 0; i < 150; i++) {
    const row = r.logits[0];
    manual.push(row.indexOf(Math.max(...row)));
    if (i < 149) r = await rt.step(r.caches, [[manual[i]]]);
  }
  assert.deepEqual(gen[0].tokens, manual);
  await rt.release();
});

test('answerLogLikelihood: one batched pass == naive log-probabilities', async () => {
  const rt = await tinyRuntime({}, 36);
  const { spec, weights } = rt.model;
  const { numKvHeads: Hkv, headDim: hd, vocabSize: V } = spec;
  const prompt = randomTokens(12, V, 15);
  const rec = await rt.prefill(prompt);
  const compressed = gather(rec.cache, Hkv, hd, () => [0, 1, 9, 10, 11]);
  const prefixes = [randomTokens(3, V, 16), randomTokens(1, V, 17), []];
  const answers = [randomTokens(4, V, 18), randomTokens(2, V, 19), randomTokens(3, V, 20)];
  const caches = [rec.cache, compressed, rec.cache];
  const res = await rt.answerLogLikelihood(caches, prefixes, answers, { lastLogits: [rec.lastLogits, rec.lastLogits, rec.lastLogits] });

  const logSoftmax = (row: Float32Array, tok: number) => {
    const m = Math.max(...row);
    return row[tok] - m - Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
  };
  for (const b of [0, 2]) {
    const seq = [...prompt, ...prefixes[b], ...answers[b]];
    const ref = naiveForward(spec, weights, seq);
    const start = prompt.length + prefixes[b].length;
    const expected = answers[b].map((tok, j) => logSoftmax(ref.logits[start + j - 1], tok));
    assertClose(res[b].tokenLogProbs, expected, 1e-4, `answer ${b} log-probs vs naive`);
    assert.ok(Math.abs(res[b].sum - expected.reduce((a, x) => a + x, 0)) < 1e-3);
    assert.ok(Math.abs(res[b].mean - res[b].sum / answers[b].length) < 1e-9);
  }
  // the compressed sequence alone gives the same numbers as inside the batch
  const alone = await rt.answerLogLikelihood([compressed], [prefixes[1]], [answers[1]]);
  assertClose(res[1].tokenLogProbs, alone[0].tokenLogProbs, 1e-5, 'compressed alone vs batched');
  await rt.release();
});

test('gatherOnHost: kept entries gathered straight into a padded batch == the compressed caches padded, and score alike (buffers reused)', async () => {
  const rt = await tinyRuntime({ numLayers: 3, numHeads: 6, numKvHeads: 2 }, 35);
  const { numKvHeads: Hkv, headDim: hd, vocabSize: V } = rt.spec;
  const rec = await rt.prefill(randomTokens(24, V, 11), { chunkSize: 7 });
  const rand = mulberry32(12);
  // ascending kept positions, heads of one layer of different lengths (head-wise budgets)
  const pick = (n: number) =>
    Int32Array.from(
      range(24)
        .filter(() => rand() < n / 24)
        .slice(0, n),
    );
  // a larger batch first, then a smaller one in the buffers it leaves (stale K/V in slots the second one masks)
  for (const [rows, base] of [
    [3, 6],
    [2, 2],
  ]) {
    const kept = range(rows).map(() => [0, 1, 2].map((l) => [0, 1].map((h) => pick(base + 5 * l + 3 * h))));
    const batch = await rt.gatherOnHost(rec, kept);
    const caches: KvCache[] = kept.map((k) => ({ nextPosition: 24, layers: k.map((heads, l) => gatherLayer(rec.cache.layers[l], heads, hd)) }));
    for (let l = 0; l < 3; l++) {
      const padded = padLayer(caches, l, Hkv, hd);
      const got = batch.layers[l];
      assert.equal(got.length, padded.length, `layer ${l}: padded to the longest kept head of the batch`);
      assert.deepEqual(got.bias, padded.bias);
      assert.deepEqual(got.positions, padded.positions);
      for (let slot = 0; slot < got.bias.length; slot++) {
        if (got.bias[slot] === -Infinity) continue;
        assert.deepEqual(got.keys.subarray(slot * hd, (slot + 1) * hd), padded.keys.subarray(slot * hd, (slot + 1) * hd), `keys l ${l} slot ${slot}`);
        assert.deepEqual(got.values.subarray(slot * hd, (slot + 1) * hd), padded.values.subarray(slot * hd, (slot + 1) * hd), `values l ${l} slot ${slot}`);
      }
    }
    const tokens = randomTokens(4, V, 13);
    const fromBatch = await rt.logitsAfter(batch, tokens, 3);
    batch.dispose();
    for (let b = 0; b < rows; b++) {
      const alone = await rt.step([caches[b]], [tokens], { logits: 'all' });
      assertClose(fromBatch.subarray(b * 3 * V, (b + 1) * 3 * V), alone.logits[0].subarray(V), 1e-5, `${rows} rows: last 3 rows of sequence ${b}`);
    }
  }
  await rt.release();
});
