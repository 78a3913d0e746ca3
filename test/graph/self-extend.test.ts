/**
 * SelfExtend in the graph against the independent naive reference (test/reference/naive-self-extend.ts) on
 * seeded random models: several (G, W) (fractional W/G included), GQA and MHA, chunked prefill (logits, keys,
 * observation-window attention, column sums), eviction with per-head kept sets (original positions kept),
 * batched steps with padding and greedy decoding. With every i − j < W the result equals the plain graph bit
 * for bit.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gatherLayer } from '../../src/compress/cache.ts';
import { loadModel } from '../../src/model/load.ts';
import { withSelfExtend } from '../../src/model/self-extend.ts';
import type { ModelSpec } from '../../src/model/spec.ts';
import { repoRoot } from '../helpers/shared-data.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';
import type { KvCache } from '../../src/runtime/types.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';
import { evictNaive, naiveSelfExtendForward, type NaiveSelfExtend } from '../reference/naive-self-extend.ts';
import { assertClose, maxAbsDiff, randomTokens, testCacheDir, tinyModel } from '../runtime/helpers.ts';

async function seRuntime(overrides: Partial<ModelSpec>, seed: number, se: NaiveSelfExtend | null): Promise<ModelRuntime> {
  return ModelRuntime.create(tinyModel(overrides, seed), {
    cacheDir: testCacheDir,
    intraOpNumThreads: 1,
    // the plain graph with present outputs: one product over past ‖ new, as SelfExtend's (bit-exact comparisons)
    graphOptions: se ? { precision: 'fp32', selfExtend: { group: se.group, window: se.window } } : { precision: 'fp32', presentOutputs: true },
  });
}

const range = (n: number) => [...Array(n).keys()];

test('SelfExtend with every i − j < W equals plain attention exactly (prefill, statistics, step)', async () => {
  const plain = await seRuntime({}, 21, null);
  const ext = await seRuntime({}, 21, { group: 4, window: 64 });
  const V = plain.spec.vocabSize;
  const tokens = randomTokens(50, V, 3);
  const a = await plain.prefill(tokens, { chunkSize: 16, window: 20 });
  const b = await ext.prefill(tokens, { chunkSize: 16, window: 20 });
  assert.deepEqual(b.lastLogits, a.lastLogits);
  assert.deepEqual(b.windowAttention, a.windowAttention);
  assert.deepEqual(b.attentionColumnSums, a.attentionColumnSums);
  assert.deepEqual(b.cache, a.cache);
  const more = randomTokens(10, V, 4);
  const sa = await plain.step([a.cache], [more], { logits: 'all' });
  const sb = await ext.step([b.cache], [more], { logits: 'all' });
  assert.deepEqual(sb.logits, sa.logits);
  await plain.release();
  await ext.release();
});

const CASES: [string, Partial<ModelSpec>, NaiveSelfExtend][] = [
  ['GQA 4/2, G=2 W=8', {}, { group: 2, window: 8 }],
  ['GQA 4/2, G=3 W=5 (fractional W/G)', {}, { group: 3, window: 5 }],
  ['MHA 4/4 interleaved, G=4 W=16', { numKvHeads: 4, rope: 'interleaved' }, { group: 4, window: 16 }],
  ['GQA 6/2 head 16, G=8 W=12', { numHeads: 6, numKvHeads: 2, headDim: 16 }, { group: 8, window: 12 }],
  ['GQA 4/1, G=1 W=4 (no grouping: plain positions)', { numKvHeads: 1 }, { group: 1, window: 4 }],
];

for (const [name, overrides, se] of CASES) {
  test(`SelfExtend graph == naive reference, chunked prefill: ${name}`, async () => {
    const rt = await seRuntime(overrides, 7, se);
    const { spec, weights } = rt.model;
    const { vocabSize: V, numLayers: L, numHeads: H } = spec;
    const T = 70;
    const tokens = randomTokens(T, V, 11);
    const ref = naiveSelfExtendForward(spec, weights, se, tokens, range(T));
    if (se.group > 1) {
      // the case must discriminate: grouped positions change the result well beyond the tolerance
      const plainRef = naiveSelfExtendForward(spec, weights, null, tokens, range(T));
      assert.ok(maxAbsDiff(ref.logits[T - 1], plainRef.logits[T - 1]) > 1e-2, 'SelfExtend barely changes this case');
    }
    const all = await rt.step([rt.emptyCache()], [tokens], { logits: 'all' });
    for (let t = 0; t < T; t++) assertClose(all.logits[0].subarray(t * V, (t + 1) * V), ref.logits[t], 1e-4, `logits at ${t}`);

    const w = 24;
    const rec = await rt.prefill(tokens, { chunkSize: 16, window: w });
    assertClose(rec.lastLogits, ref.logits[T - 1], 1e-4, 'prefill last logits');
    for (let l = 0; l < L; l++) {
      const win = new Float64Array(H * w * T);
      const sums = new Float64Array(H * T);
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < T; i++) {
          ref.attention[l][h][i].forEach((p, s) => {
            sums[h * T + s] += p;
            if (i >= T - w) win[(h * w + i - (T - w)) * T + s] = p;
          });
        }
      }
      assertClose(rec.windowAttention[l], win, 1e-5, `window attention layer ${l}`);
      assertClose(rec.attentionColumnSums[l], sums, 1e-4, `column sums layer ${l}`);
    }
    await rt.release();
  });
}

test('SelfExtend after eviction: kept entries keep their original (per-head) positions; batched step and decode', async () => {
  const se = { group: 3, window: 10 };
  const rt = await seRuntime({}, 13, se);
  const { spec, weights } = rt.model;
  const { vocabSize: V, numLayers: L, numKvHeads: Hkv, headDim: hd } = spec;
  const T = 60;
  const prompt = randomTokens(T, V, 5);
  const rec = await rt.prefill(prompt, { chunkSize: 25 });
  const refPrompt = naiveSelfExtendForward(spec, weights, se, prompt, range(T));

  // a different random kept set per layer and head (sizes differ, so layers carry padding)
  const rng = mulberry32(99);
  const keep = range(L).map(() => range(Hkv).map(() => range(T).filter((t) => t >= T - 6 || rng() < 0.4)));
  const cache: KvCache = {
    layers: rec.cache.layers.map((layer, l) =>
      gatherLayer(
        layer,
        keep[l].map((k) => Int32Array.from(k)),
        hd,
      ),
    ),
    nextPosition: T,
  };
  const refPast = evictNaive(refPrompt.past, (l, h) => keep[l][h]);

  const question = randomTokens(7, V, 6);
  const step = await rt.step([cache], [question], { logits: 'all' });
  const refQ = naiveSelfExtendForward(
    spec,
    weights,
    se,
    question,
    range(7).map((i) => T + i),
    refPast,
  );
  for (let t = 0; t < 7; t++) assertClose(step.logits[0].subarray(t * V, (t + 1) * V), refQ.logits[t], 1e-4, `question logits at ${t}`);

  // batched with a second, uncompressed sequence of another length (padding and per-row positions)
  const other = randomTokens(40, V, 8);
  const rec2 = await rt.prefill(other, { chunkSize: 40 });
  const ref2 = naiveSelfExtendForward(spec, weights, se, other, range(40));
  const tail2 = randomTokens(3, V, 9);
  const batched = await rt.step([cache, rec2.cache], [question, tail2], { logits: 'all' });
  const refTail2 = naiveSelfExtendForward(spec, weights, se, tail2, [40, 41, 42], ref2.past);
  for (let t = 0; t < 7; t++) assertClose(batched.logits[0].subarray(t * V, (t + 1) * V), refQ.logits[t], 1e-4, `batched row 0 at ${t}`);
  for (let t = 0; t < 3; t++) assertClose(batched.logits[1].subarray(t * V, (t + 1) * V), refTail2.logits[t], 1e-4, `batched row 1 at ${t}`);

  // the step's returned cache continues from the right positions: one more token through it
  const next = randomTokens(1, V, 10);
  const cont = await rt.step([step.caches[0]], [next]);
  const refNext = naiveSelfExtendForward(spec, weights, se, next, [T + 7], refQ.past);
  assertClose(cont.logits[0], refNext.logits[0], 1e-4, 'logits after the returned cache');

  // greedy decoding through the padded decode batch (positions written per slot)
  const gen = await rt.generateBatch([cache, rec2.cache], [question, tail2], { maxNewTokens: 5, stopTokens: [] });
  const greedy = (past: typeof refQ.past, logits: Float32Array, start: number): number[] => {
    const out: number[] = [];
    let cur = logits;
    let p = past;
    for (let k = 0; k < 5; k++) {
      const tok = cur.indexOf(Math.max(...cur));
      out.push(tok);
      if (k === 4) break;
      const r = naiveSelfExtendForward(spec, weights, se, [tok], [start + k], p);
      p = r.past;
      cur = r.logits[0];
    }
    return out;
  };
  assert.deepEqual(gen[0].tokens, greedy(refQ.past, refQ.logits[6], T + 7), 'decoded tokens, evicted cache');
  assert.deepEqual(gen[1].tokens, greedy(refTail2.past, refTail2.logits[2], 43), 'decoded tokens, full cache');
  await rt.release();
});

test('SelfExtend in the fp16 graph (float16 KV cache) agrees with fp32 on models/tiny at a 1k prompt', async () => {
  const se = { group: 8, window: 128 };
  const model = withSelfExtend(await loadModel(join(repoRoot, 'models/tiny')), se, 'test');
  const sample = JSON.parse(readFileSync(join(repoRoot, 'datasets/retrieval-long/retrieval-1k.jsonl'), 'utf8').split('\n')[0]);
  const prompt = model.tokenizer!.encode(`${sample.context} ${sample.question}`, { addBos: true });
  assert.ok(prompt.length > 900);
  const runs = [];
  for (const precision of ['fp32', 'fp16'] as const) {
    const rt = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1, graphOptions: { precision, selfExtend: se } });
    const rec = await rt.prefill(prompt, { chunkSize: 256 });
    const gen = await rt.generate(rec.cache, [], { maxNewTokens: 4, lastLogits: [rec.lastLogits] });
    runs.push({ logits: rec.lastLogits, answer: model.tokenizer!.decode(gen.tokens) });
    await rt.release();
  }
  const scale = Math.max(...runs[0].logits.map(Math.abs));
  assert.ok(maxAbsDiff(runs[0].logits, runs[1].logits) < 0.003 * scale, `fp16 logits differ by ${maxAbsDiff(runs[0].logits, runs[1].logits)}`);
  assert.equal(runs[0].answer, sample.answers[0]);
  assert.equal(runs[1].answer, sample.answers[0]);
});
