import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headwiseCounts } from '../../src/compress/allocators/adakv.ts';
import { pyramidSchedule } from '../../src/compress/allocators/pyramid.ts';
import { compressPrefill } from '../../src/compress/compress.ts';
import { budgetOf, resolveBudget, uniformProfile } from '../../src/compress/budget.ts';
import { parseMethod } from '../../src/compress/registry.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { randomRecord, randomWo, record, spec, weights } from './helpers.ts';

test('pyramid schedule: β, linear decrease, exact total (hand values)', () => {
  // B 40, w 8 → B′ 32; β 20: min 1, max 63; x = 63, 47.5, 32, 16.5, 1 → largest remainder 63, 48, 32, 16, 1
  assert.deepEqual(pyramidSchedule(5, 40, 200, 8, 20, 'clamp'), [71, 56, 40, 24, 9]);
  // β 4: min 8, max 56 → 56, 44, 32, 20, 8
  assert.deepEqual(pyramidSchedule(5, 40, 200, 8, 4, 'clamp'), [64, 52, 40, 28, 16]);
  // infeasible: max 63 ≥ T − w = 52 → max 52, min 2·32 − 52 = 12 → 52, 42, 32, 22, 12
  assert.deepEqual(pyramidSchedule(5, 40, 60, 8, 20, 'clamp'), [60, 50, 40, 30, 20]);
  // KVCache-Factory's rule: T = 60 < 2B′ = 64 → uniform
  assert.deepEqual(pyramidSchedule(5, 40, 60, 8, 20, 'uniform'), [40, 40, 40, 40, 40]);
  // ... but T = 100 ≥ 64 keeps the pyramid (clamped if needed): max 63 < 92
  assert.deepEqual(pyramidSchedule(5, 40, 100, 8, 20, 'uniform'), [71, 56, 40, 24, 9]);
  // B ≥ T keeps everything; B′ ≤ 0 and L = 1 are uniform
  assert.deepEqual(pyramidSchedule(3, 50, 50, 8, 20, 'clamp'), [50, 50, 50]);
  assert.deepEqual(pyramidSchedule(3, 6, 50, 8, 20, 'clamp'), [6, 6, 6]);
  assert.deepEqual(pyramidSchedule(1, 20, 50, 8, 20, 'clamp'), [20]);
  for (const [L, B, T] of [
    [7, 37, 300],
    [32, 128, 4000],
    [5, 13, 40],
  ] as const) {
    const s = pyramidSchedule(L, B, T, 8, 20, 'clamp');
    assert.equal(
      s.reduce((a, b) => a + b, 0),
      L * B,
      `total L·B for ${L}/${B}/${T}`,
    );
    for (let l = 1; l < L; l++) assert.ok(s[l] <= s[l - 1], 'non-increasing');
    assert.ok(s[0] <= T);
  }
});

test('adakv: flattened top-k shares, floor α via b = round(c(1−α)+αB′), exact total', () => {
  // Hkv 3, T 10, window 2 (+inf at 8, 9), B 5: top 15 = 6 window + 9 prefix; head 0 has the 6 best prefix
  // scores, head 1 the next 3, head 2 none → c = [8, 5, 2], c′ = [6, 3, 0], B′ = 3.
  const T = 10;
  const s = new Float64Array(3 * T);
  for (let j = 0; j < 8; j++) {
    s[j] = j < 6 ? 100 - j : 0.1; // head 0
    s[T + j] = j < 3 ? 90 - j : 1; // head 1
    s[2 * T + j] = 0.5; // head 2
  }
  for (let h = 0; h < 3; h++) s[h * T + 8] = s[h * T + 9] = Infinity;
  assert.deepEqual([...headwiseCounts(s, 3, T, 5, 0)], [8, 5, 2]);
  // α 0.2: x = 5.4, 3.0, 0.6 → 5, 3, 1 (+2 window)
  assert.deepEqual([...headwiseCounts(s, 3, T, 5, 0.2)], [7, 5, 3]);
  // α 0.5: x = 4.5, 3, 1.5: plain round() would give 5+3+2 = 10 > 9; largest remainder (tie → lower head) 5, 3, 1
  assert.deepEqual([...headwiseCounts(s, 3, T, 5, 0.5)], [7, 5, 3]);
  // α 1: uniform
  assert.deepEqual([...headwiseCounts(s, 3, T, 5, 1)], [5, 5, 5]);
  // B ≥ T: every head T
  assert.deepEqual([...headwiseCounts(s, 3, T, 12, 0.2)], [10, 10, 10]);
});

test('layer-global: one top-k over all layers, per-layer counts, window entries kept everywhere', () => {
  // L 2, Hkv 2, T 4, window 1. Layer 0 scores are all high, layer 1 all low: layer 1 keeps only its windows.
  const sp = spec({ L: 2, Hq: 2, Hkv: 2, hd: 2, D: 4 });
  const rec = record({ T: 4, window: 1, Hq: 2, Hkv: 2, hd: 2, L: 2 });
  rec.attentionColumnSums[0].set([9, 8, 7, 1, 9, 8, 6, 1]);
  rec.attentionColumnSums[1].set([1, 2, 3, 1, 1, 1, 5, 1]);
  // h2o(recent=1) gives scores = column sums (G = 1) with the last token +inf; uniform budget 2 → n = 8
  const c = compressPrefill(
    rec,
    sp,
    weights(sp, [new Float32Array(8), new Float32Array(8)]),
    parseMethod({ h2o: { recent: 1, allocator: 'layer-global' } }),
    [2, 2],
  );
  // forced: 4 windows; remaining 4 of: 9,8,7,9,8,6 (layer 0) and 1,2,3,1,1,5 (layer 1) → 9,9,8,8
  assert.deepEqual(
    c.kept.map((l) => l.map((h) => [...h])),
    [
      [
        [0, 1, 3],
        [0, 1, 3],
      ],
      [[3], [3]],
    ],
  );
  assert.equal(c.logicalEntries, 8);
  // with budget 3 → n 12: + 7 (l0h0), 6 (l0h1), 5 (l1h1), 3 (l1h0)
  const c3 = compressPrefill(
    rec,
    sp,
    weights(sp, [new Float32Array(8), new Float32Array(8)]),
    parseMethod({ h2o: { recent: 1, allocator: 'layer-global' } }),
    [3, 3],
  );
  assert.deepEqual(
    c3.kept.map((l) => l.map((h) => h.length)),
    [
      [4, 4],
      [2, 2],
    ],
  );
});

test('uniform and profile allocators: per-layer counts from the budgets, profile files (JSON and YAML)', () => {
  const L = 3,
    Hq = 4,
    Hkv = 2,
    hd = 2,
    T = 40;
  const sp = spec({ L, Hq, Hkv, hd });
  const rec = randomRecord(3, { L, Hq, Hkv, hd, T, window: 8 });
  const wt = weights(sp, randomWo(4, L, sp.hiddenSize, Hq * hd));
  const u = compressPrefill(rec, sp, wt, 'snapkv(window=8)', [10, 20, 30]);
  assert.deepEqual(
    u.kept.map((l) => l.map((h) => h.length)),
    [
      [10, 10],
      [20, 20],
      [30, 30],
    ],
  );
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-profile-'));
  // The file format is compress/profile-file.ts's (what `kvopt export` writes); its own tests cover parsing errors.
  const fmt = 'kvopt-budget-profile/1';
  writeFileSync(join(dir, 'p.json'), JSON.stringify({ format: fmt, layers: [12, 6, 24], target: 14, meta: { by: 'test' } }));
  writeFileSync(join(dir, 'p.yaml'), `format: ${fmt}\nlayers: [12, 6, 24]\ntarget: 14\n`);
  const p = compressPrefill(rec, sp, wt, { profile: { file: join(dir, 'p.json'), window: 8 } }, uniformProfile(L, 14));
  assert.deepEqual(
    p.kept.map((l) => l.map((h) => h.length)),
    [
      [12, 12],
      [6, 6],
      [24, 24],
    ],
  );
  assert.deepEqual(p.layerBudgets, [12, 6, 24]);
  // transfer by rescaling to target 7: [6, 3, 12]
  const p7 = compressPrefill(rec, sp, wt, { profile: { file: join(dir, 'p.yaml'), window: 4 } }, uniformProfile(L, 7));
  assert.deepEqual(p7.layerBudgets, [6, 3, 12]);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ format: fmt, layers: [1, 2.5, 3], target: 2 }));
  assert.throws(
    () => compressPrefill(rec, sp, wt, { profile: { file: join(dir, 'bad.json') } }, [1, 1, 1]),
    (e: unknown) => e instanceof KvoptError && /bad\.json: layers\[1\]/.test(e.message),
  );
  assert.throws(() => compressPrefill(rec, sp, wt, { profile: { file: join(dir, 'nope.json') } }, [1, 1, 1]), /nope\.json: cannot read/);
  writeFileSync(join(dir, 'two.json'), JSON.stringify({ format: fmt, layers: [1, 2], target: 1.5 }));
  assert.throws(() => compressPrefill(rec, sp, wt, { profile: { file: join(dir, 'two.json'), window: 8 } }, [1, 1, 1]), /has 2 layers, the model has 3/);
});

test('resolveBudget: tokens, fractions, { keep }', () => {
  const of = (v: number) => budgetOf(v)!;
  assert.equal(resolveBudget(of(128), 1000), 128);
  assert.equal(resolveBudget(of(0.2), 1000), 200);
  assert.equal(resolveBudget(of(0.29), 100), 29); // floor with a guard against 28.999999999999996
  assert.equal(resolveBudget({ kind: 'fraction', keep: 1 }, 77), 77);
  assert.equal(resolveBudget(of(0.001), 10), 1);
  assert.equal(budgetOf(12.5), null);
  assert.equal(budgetOf(-1), null);
  assert.throws(() => resolveBudget({ kind: 'tokens', tokens: 12.5 }, 100), KvoptError);
  assert.throws(() => resolveBudget({ kind: 'tokens', tokens: -1 }, 100), KvoptError);
  assert.deepEqual(uniformProfile(3, 9), [9, 9, 9]);
});
