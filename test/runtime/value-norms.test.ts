/**
 * Value-output norms from the float64 graph (ModelRuntime.ensureValueNorms) against the scalar JavaScript
 * reference valueOutputNorms, and CriticalKV / DefensiveKV selections with precomputed norms and shared prepared
 * parts against fresh, unshared scoring.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compressPrefill } from '../../src/compress/compress.ts';
import { parseMethod } from '../../src/compress/registry.ts';
import { valueOutputNorms } from '../../src/compress/scorers/attention.ts';
import type { PrefillRecord } from '../../src/runtime/types.ts';
import { randomTokens, tinyRuntime } from './helpers.ts';

test('value norms graph == JavaScript reference (GQA 4/2, every layer, every token)', async () => {
  const rt = await tinyRuntime({ numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 1024 }, 3);
  const { spec, weights } = rt.model;
  const T = 700; // more than one 512-token chunk of the norm graph
  const rec = await rt.prefill(randomTokens(T, spec.vocabSize, 9), { window: 16, chunkSize: 256 });
  const norms = await rt.ensureValueNorms(rec);
  assert.equal(norms.length, spec.numLayers);
  for (let l = 0; l < spec.numLayers; l++) {
    const ref = valueOutputNorms(rec, spec, weights, l, T);
    assert.equal(norms[l].length, ref.length);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(norms[l][i] - ref[i]) / Math.max(1e-300, Math.abs(ref[i])));
    assert.ok(worst < 1e-12, `layer ${l}: relative difference ${worst}`);
  }
  assert.equal(await rt.ensureValueNorms(rec), norms, 'computed once, then kept in the record');
  await rt.release();
});

test('criticalkv / defensivekv: precomputed norms and shared prepared parts select exactly what fresh scoring selects', async () => {
  const rt = await tinyRuntime({ numLayers: 3, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 1024 }, 5);
  const { spec, weights } = rt.model;
  const T = 300;
  const rec = await rt.prefill(randomTokens(T, spec.vocabSize, 4), { window: 32 });
  const fresh: PrefillRecord = { ...rec, valueNorms: undefined };
  await rt.ensureValueNorms(rec);
  for (const method of ['criticalkv', 'ada-criticalkv', 'defensivekv', 'layer-defensivekv', 'defensivekv(window_bias=prefix-tail,stage1_count=before)']) {
    const m = parseMethod(method);
    const shared = new Map<string, unknown>();
    for (const b of [40, 64, 100, 33]) {
      const budgets = [b, b + 7, b - 3];
      const a = compressPrefill(rec, spec, weights, m, budgets, shared); // graph norms, prepared once for all budgets
      const ref = compressPrefill(fresh, spec, weights, m, budgets, new Map()); // JS norms, nothing shared
      assert.deepEqual(a.kept, ref.kept, `${method} budget ${b}`);
    }
  }
  await rt.release();
});
