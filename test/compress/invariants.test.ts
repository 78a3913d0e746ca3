/**
 * Invariants of every method on a random, well-formed PrefillRecord (causal softmax window rows, GQA 4/2):
 * budget ≥ T is the full cache bit for bit; per-layer totals equal the requested budgets; kept entries are
 * gathered exactly, padded with -inf; physical bytes ≥ logical entries × bytes per entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pyramidSchedule } from '../../src/compress/allocators/pyramid.ts';
import { compressPrefill } from '../../src/compress/compress.ts';
import { METHODS, parseMethod } from '../../src/compress/registry.ts';
import type { CompressedCache } from '../../src/compress/types.ts';
import { randomRecord, randomWo, spec, weights } from './helpers.ts';

const L = 3,
  Hq = 4,
  Hkv = 2,
  hd = 4,
  T = 64;
const sp = spec({ L, Hq, Hkv, hd });
const rec = randomRecord(5, { L, Hq, Hkv, hd, T, window: 32 });
const wt = weights(sp, randomWo(6, L, sp.hiddenSize, Hq * hd));
const dir = mkdtempSync(join(tmpdir(), 'kvopt-inv-'));
const profileFile = join(dir, 'profile.json');
writeFileSync(profileFile, JSON.stringify({ format: 'kvopt-budget-profile/1', layers: [30, 50, 40], target: 40 }));

const methods = [
  ...Object.keys(METHODS).filter((n) => n !== 'profile'),
  { profile: { file: profileFile } },
  'snapkv+kivi4',
  'snapkv(window=8,kernel=3,pooling=avg)',
  { adakv: { scorer: 'h2o', alpha: 0.5 } },
  { 'layer-defensivekv': { window: 8 } },
  'pyramidkv(fallback=uniform)',
];
const name = (m: unknown) => (typeof m === 'string' ? m : JSON.stringify(m));
const lossy = (m: unknown) => parseMethod(m as never).quantizer !== null && parseMethod(m as never).quantizer!.options.bits !== '16';

function checkGather(c: CompressedCache) {
  c.layers.forEach((layer, l) => {
    const full = rec.cache.layers[l];
    const P = layer.length;
    assert.equal(P, Math.max(...c.kept[l].map((k) => k.length)), 'padded to the longest head');
    c.kept[l].forEach((k, h) => {
      for (let t = 1; t < k.length; t++) assert.ok(k[t] > k[t - 1], 'ascending, unique');
      for (let t = 0; t < P; t++) {
        if (t < k.length) {
          assert.equal(layer.bias[h * P + t], 0);
          if (!c.method.includes('kivi')) {
            const src = (h * T + k[t]) * hd;
            assert.deepEqual(layer.keys.subarray((h * P + t) * hd, (h * P + t + 1) * hd), full.keys.subarray(src, src + hd));
            assert.deepEqual(layer.values.subarray((h * P + t) * hd, (h * P + t + 1) * hd), full.values.subarray(src, src + hd));
          }
        } else assert.equal(layer.bias[h * P + t], -Infinity, 'padding is masked');
      }
    });
  });
  assert.equal(c.nextPosition, T);
  assert.equal(
    c.logicalEntries,
    c.kept.flat().reduce((a, k) => a + k.length, 0),
  );
}

test('budget ≥ T gives exactly the full cache for every method', () => {
  for (const m of methods) {
    if (lossy(m)) continue;
    for (const B of [T, T + 7]) {
      const c = compressPrefill(rec, sp, wt, m as never, [B, B, B]);
      c.layers.forEach((layer, l) => {
        const full = rec.cache.layers[l];
        assert.equal(layer.length, T, name(m));
        assert.deepEqual(layer.keys, full.keys, `${name(m)} keys`);
        assert.deepEqual(layer.values, full.values, `${name(m)} values`);
        assert.deepEqual(layer.bias, new Float32Array(Hkv * T), `${name(m)} bias`);
        assert.notEqual(layer.keys, full.keys, 'a copy, not the record');
      });
      assert.equal(c.logicalEntries, L * Hkv * T);
      assert.equal(c.physicalBytes, 2 * L * Hkv * T * hd * 4);
    }
  }
});

test('per-layer totals equal the requested budgets; windows kept; bytes ≥ entries × bytes per entry', () => {
  for (const m of methods) {
    const spec_ = parseMethod(m as never);
    for (const B of [33, 40, 50]) {
      const c = compressPrefill(rec, sp, wt, spec_, [B, B, B]);
      checkGather(c);
      const total = c.layerEntries.reduce((a, b) => a + b, 0);
      const alloc = spec_.allocator.name;
      if (alloc === 'all') assert.deepEqual(c.layerEntries, [Hkv * T, Hkv * T, Hkv * T]);
      else if (alloc === 'profile') {
        // [30, 50, 40] rescaled to mean B by largest remainder (ties → lower layer)
        const want = { 33: [25, 41, 33], 40: [30, 50, 40], 50: [38, 62, 50] }[B]!;
        assert.deepEqual(c.layerBudgets, want);
        assert.deepEqual(
          c.layerEntries,
          want.map((b) => b * Hkv),
          name(m),
        );
      } else if (alloc === 'pyramid') {
        const w = spec_.scorer.options.window as number;
        const sched = pyramidSchedule(L, B, T, w, 20, spec_.allocator.options.fallback as 'clamp' | 'uniform');
        assert.deepEqual(
          c.layerEntries,
          sched.map((b) => b * Hkv),
          `${name(m)} B=${B}`,
        );
        assert.equal(total, L * Hkv * B);
      } else if (alloc === 'layer-global') assert.equal(total, L * Hkv * B, name(m));
      else
        assert.deepEqual(
          c.layerEntries,
          [B, B, B].map((b) => b * Hkv),
          `${name(m)} B=${B}`,
        );
      if (alloc === 'uniform') for (const l of c.kept) for (const k of l) assert.equal(k.length, B);
      // the observation window is kept by every method that has one
      c.kept.forEach((l, li) => {
        const w = Math.min(Number(spec_.scorer.options.window ?? 0), c.layerBudgets[li]);
        if (alloc !== 'all' && w > 0) for (const k of l) for (let j = T - w; j < T; j++) assert.ok(k.includes(j), `${name(m)} keeps window token ${j}`);
      });
      const bits = spec_.quantizer ? Number(spec_.quantizer.options.bits) : 32;
      assert.ok(c.physicalBytes >= (c.logicalEntries * 2 * hd * Math.min(bits, 32)) / 8, `${name(m)} bytes`);
      if (!spec_.quantizer) {
        const padded = c.layers.reduce((a, layer) => a + 2 * Hkv * layer.length * hd * 4, 0);
        assert.equal(c.physicalBytes, padded);
      }
    }
  }
});

test('lower budgets keep subsets of higher ones for per-head top-k (snapkv, B 20 ⊂ B 40)', () => {
  const a = compressPrefill(rec, sp, wt, 'snapkv(window=8)', [20, 20, 20]);
  const b = compressPrefill(rec, sp, wt, 'snapkv(window=8)', [40, 40, 40]);
  a.kept.forEach((l, i) => l.forEach((k, h) => k.forEach((j) => assert.ok(b.kept[i][h].includes(j)))));
});

test('a score cache shared across budgets and methods gives exactly the uncached result', () => {
  const cache = new Map();
  const budgetSets = [
    [8, 8, 8],
    [20, 4, 12],
    [40, 30, 9],
    [8, 8, 8],
  ];
  for (const m of methods) {
    for (const b of budgetSets) {
      const plain = compressPrefill(rec, sp, wt, m as never, b);
      const cached = compressPrefill(rec, sp, wt, m as never, b, cache);
      assert.deepEqual(cached.kept, plain.kept, `${name(m)} at [${b}]`);
      assert.equal(cached.physicalBytes, plain.physicalBytes);
    }
  }
  assert.ok(cache.size > 0);
});

test('the applied per-layer budgets a cache reports are the ones it kept (the PyramidKV schedule, not the request)', () => {
  for (const m of ['pyramidkv', 'pyramidkv(fallback=uniform)', 'snapkv']) {
    const c = compressPrefill(rec, sp, wt, m, [24, 24, 24]);
    assert.deepEqual(
      c.layerBudgets,
      c.kept.map((l) => l[0].length),
      m,
    );
  }
  // B 44 with the window of 32: B′ = 12, a real pyramid (24 below the window would be uniform).
  const pyr = compressPrefill(rec, sp, wt, 'pyramidkv', [44, 44, 44]);
  assert.deepEqual(pyr.layerBudgets, pyramidSchedule(L, 44, T, 32, 20, 'clamp'));
  assert.notDeepEqual(pyr.layerBudgets, [44, 44, 44]);
});
