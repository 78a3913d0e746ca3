/**
 * `kvopt bench engine` as a user runs it: --json figures that are consistent (every per-item bucket adds up to
 * the item time, the prefill-once ratio is (prefill + once-per-prefill work + item) / item), one-line errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kvopt } from '../engine/cli-run.ts';
import { prefillFlops } from '../../src/engine/bench.ts';
import { tinySpec } from '../../src/model/random.ts';

test('kvopt bench engine --json on random:tiny: buckets add up, ratios follow from the figures', () => {
  const r = kvopt([
    'bench',
    'engine',
    '--model',
    'random:tiny',
    '--context',
    '96',
    '--answer',
    '8',
    '--methods',
    'snapkv,defensivekv',
    '--budgets',
    '0.25,0.5',
    '--candidates',
    '3',
    '--threads',
    '1',
    '--repeats',
    '2',
    '--json',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.contextTokens, 96);
  assert.deepEqual(
    j.methods.map((m: { method: string }) => m.method),
    ['snapkv', 'defensivekv'],
  );
  for (const m of j.methods) {
    const p = m.perItem;
    assert.equal(m.items, 2);
    assert.equal(m.repeats, 2);
    for (const k of ['compressMs', 'decodeMs', 'metricsMs', 'totalMs']) assert.ok(p[k] >= 0, `${m.method} ${k}`);
    assert.ok(Math.abs(p.compressMs + p.decodeMs + p.metricsMs + p.overheadMs - p.totalMs) < 1e-6);
    assert.ok(Math.abs(m.prefillOnceRatio - (j.prefill.ms + m.oncePerPrefillMs + p.totalMs) / p.totalMs) < 1e-9);
    assert.ok(m.cpuMsPerItem > 0 && Math.abs(m.prefillOnceRatioCpu - (j.prefill.cpuMs + m.oncePerPrefillCpuMs + m.cpuMsPerItem) / m.cpuMsPerItem) < 1e-9);
  }
  // the once-per-prefill work of defensivekv includes the value norms, snapkv's does not
  assert.ok(j.methods[1].oncePerPrefillMs >= j.prefill.valueNormsMs);
  assert.ok(j.methods[0].oncePerPrefillCpuMs > 0 && j.methods[1].oncePerPrefillCpuMs >= j.prefill.valueNormsCpuMs);
  const c = j.candidateLoop;
  assert.equal(c.candidates, 3);
  assert.ok(Math.abs(c.scoring.speedup - c.scoring.msPerCandidateBatch1 / c.scoring.msPerCandidateBatchB) < 1e-9);
  assert.ok(Math.abs(c.generation.speedup - c.generation.msPerCandidateBatch1 / c.generation.msPerCandidateBatchB) < 1e-9);
  assert.ok(j.prefillVsGemm.gemmGflops > 0 && Math.abs(j.prefillVsGemm.ratio - j.prefillVsGemm.prefillGflops / j.prefillVsGemm.gemmGflops) < 1e-9);
});

test('prefillFlops counts projections, MLP and attention over the keys each chunk sees (hand-computed)', () => {
  const spec = tinySpec({ numLayers: 1, hiddenSize: 4, numHeads: 2, numKvHeads: 1, headDim: 2, intermediateSize: 6, vocabSize: 10 });
  // per token: q 4·2·2 + k,v 2·4·2 + o 2·2·4 + MLP 3·4·6 = 16 + 16 + 16 + 72 = 120 MACs; attention 2·(2·2)·keys MACs
  // chunks of 2 over 3 tokens: 2 tokens seeing 2 keys, then 1 token seeing 3 keys
  const macs = 120 * 3 + 2 * 4 * (2 * 2) + 2 * 4 * (1 * 3);
  assert.equal(prefillFlops(spec, 3, 2), 2 * macs + 2 * 4 * 10);
});

test('kvopt bench engine: a bad method or budget is one line naming the flag', () => {
  const a = kvopt(['bench', 'engine', '--model', 'random:tiny', '--methods', 'snapkv,bogus']);
  assert.notEqual(a.status, 0);
  assert.match(a.stderr, /^kvopt: --methods: unknown method 'bogus'/);
  assert.equal(a.stderr.trim().split('\n').length, 1);
  const b = kvopt(['bench', 'engine', '--model', 'random:tiny', '--budgets', '0.2,x']);
  assert.notEqual(b.status, 0);
  assert.match(b.stderr, /--budgets: 'x' is not a budget/);
});
