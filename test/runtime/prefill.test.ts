/**
 * Prefill across chunk sizes (including chunks smaller than the window) and token-by-token stepping give the same
 * logits, K/V, window attention rows and column sums; window rows and column sums equal the naive attention.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvoptError } from '../../src/util/errors.ts';
import { naiveForward } from '../reference/naive-llama.ts';
import { assertClose, randomTokens, tinyRuntime } from './helpers.ts';

test('full prefill == chunked prefill == token-by-token stepping == naive', async () => {
  const rt = await tinyRuntime({ numLayers: 3 }, 4);
  const { spec, weights } = rt.model;
  const { vocabSize: V, numLayers: L, numHeads: H } = spec;
  const tokens = randomTokens(23, V, 8);
  const T = tokens.length;
  const w = 6;
  const ref = naiveForward(spec, weights, tokens);

  // naive window rows [H, w, T] and column sums [H, T]
  const refWindow = Array.from({ length: L }, () => new Float32Array(H * w * T));
  const refSums = Array.from({ length: L }, () => new Float64Array(H * T));
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        for (let t = 0; t < T; t++) {
          const p = ref.attention[l][(h * T + i) * T + t];
          refSums[l][h * T + t] += p;
          if (i >= T - w) refWindow[l][(h * w + i - (T - w)) * T + t] = p;
        }
      }
    }
  }

  const full = await rt.prefill(tokens, { window: w });
  assert.equal(full.window, w);
  assert.deepEqual(full.tokens, tokens);
  assert.equal(full.cache.nextPosition, T);
  assertClose(full.lastLogits, ref.logits[T - 1], 1e-4, 'last logits vs naive');
  for (let l = 0; l < L; l++) {
    assertClose(full.windowAttention[l], refWindow[l], 1e-5, `window rows layer ${l} vs naive`);
    assertClose(full.attentionColumnSums[l], refSums[l], 1e-4, `column sums layer ${l} vs naive`);
    assert.ok(full.cache.layers[l].bias.every((b) => b === 0));
  }

  for (const chunkSize of [1, 4, 5, 7, 22]) {
    const rec = await rt.prefill(tokens, { window: w, chunkSize });
    assertClose(rec.lastLogits, full.lastLogits, 1e-5, `chunk ${chunkSize}: last logits`);
    for (let l = 0; l < L; l++) {
      assertClose(rec.cache.layers[l].keys, full.cache.layers[l].keys, 1e-5, `chunk ${chunkSize}: keys ${l}`);
      assertClose(rec.cache.layers[l].values, full.cache.layers[l].values, 1e-5, `chunk ${chunkSize}: values ${l}`);
      assertClose(rec.windowAttention[l], full.windowAttention[l], 1e-6, `chunk ${chunkSize}: window ${l}`);
      assertClose(rec.attentionColumnSums[l], full.attentionColumnSums[l], 1e-5, `chunk ${chunkSize}: colsums ${l}`);
    }
  }

  // token by token through step(): same logits at every position and the same final cache
  let cache = rt.emptyCache();
  for (let t = 0; t < T; t++) {
    const r = await rt.step([cache], [[tokens[t]]]);
    assertClose(r.logits[0], ref.logits[t], 1e-4, `stepped logits at ${t}`);
    cache = r.caches[0];
  }
  assert.equal(cache.nextPosition, T);
  for (let l = 0; l < L; l++) {
    assertClose(cache.layers[l].keys, full.cache.layers[l].keys, 1e-5, `stepped keys ${l}`);
    assertClose(cache.layers[l].values, full.cache.layers[l].values, 1e-5, `stepped values ${l}`);
  }
  await rt.release();
});

test('window larger than the prompt is clipped; window 0 records no rows', async () => {
  const rt = await tinyRuntime({}, 4);
  const tokens = randomTokens(5, rt.spec.vocabSize, 2);
  const big = await rt.prefill(tokens, { window: 50, chunkSize: 2 });
  assert.equal(big.window, 5);
  assert.equal(big.windowAttention[0].length, rt.spec.numHeads * 5 * 5);
  // every recorded row is a probability distribution over the keys it can see
  for (let r = 0; r < rt.spec.numHeads * 5; r++) {
    const row = big.windowAttention[1].subarray(r * 5, r * 5 + 5);
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  }
  const none = await rt.prefill(tokens, { window: 0 });
  assert.equal(none.window, 0);
  assert.equal(none.windowAttention[0].length, 0);
  await rt.release();
});

test('a prompt longer than the context is a KvoptError naming both lengths', async () => {
  const rt = await tinyRuntime({ maxPositionEmbeddings: 16 }, 4);
  const tokens = randomTokens(17, rt.spec.vocabSize, 2);
  await assert.rejects(rt.prefill(tokens), (e: unknown) => e instanceof KvoptError && /17 tokens/.test(e.message) && /context of 16/.test(e.message));
  const rec = await rt.prefill(tokens.slice(0, 16));
  await assert.rejects(rt.step([rec.cache], [[5]]), (e: unknown) => e instanceof KvoptError && /exceed the model context of 16/.test(e.message));
  await assert.rejects(rt.prefill([]), KvoptError);
  await assert.rejects(rt.prefill([rt.spec.vocabSize]), (e: unknown) => e instanceof KvoptError && /outside the vocabulary/.test(e.message));
  await rt.release();
});
