import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheScore, completeBudget, evolkvFitness } from '../../src/search/budget.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { Rng } from '../../src/search/rng.ts';

test('CacheScore (Eq. 2): maximum 1 at c, linear over-spend penalty to 0 at 2c, mild under-spend penalty γ', () => {
  assert.equal(cacheScore(128, 128), 1);
  assert.equal(cacheScore(64, 128), 0.9); // 1 − 0.2·(1 − 0.5)
  assert.equal(cacheScore(0, 128), 0.8);
  assert.equal(cacheScore(192, 128), 0.5); // 1 − 64/128
  assert.equal(cacheScore(256, 128), 0);
  assert.equal(cacheScore(300, 128), 0);
  assert.equal(cacheScore(64, 128, 0.5), 0.75);
});

test("fitness = f·(1 + λ·CacheScore) reproduces the reproduction's logged 82.87", () => {
  // task 63.80, k̄ = 128.44, c = 128 → CacheScore 1 − 0.44/128 = 0.9965625, fitness 63.80 × 1.29896875
  const p = evolkvFitness(63.8, 128.44, 128);
  assert.ok(Math.abs(p.cacheScore - 0.9965625) < 1e-12);
  assert.ok(Math.abs(p.fitness - 82.874206) < 1e-5);
  assert.equal(p.fitness.toFixed(2), '82.87');
  assert.equal(evolkvFitness(10, 64, 128, 0.5, 0.2).fitness, 10 * (1 + 0.5 * 0.9));
});

test('completion: exact proportional rescale when it is already integral', () => {
  assert.deepEqual(completeBudget([1, 2, 3, 4], 5, { minBudget: 0 }), [2, 4, 6, 8]);
  assert.deepEqual(completeBudget([10, 10, 10], 7, { minBudget: 1 }), [7, 7, 7]);
});

test('completion: largest remainder by hand', () => {
  // k = [1,2,3,4], c = 4: T = 16, A = 10 → [1.6, 3.2, 4.8, 6.4]; floors sum 14; +1 to fractions .8 (layer 2) and .6 (layer 0)
  assert.deepEqual(completeBudget([1, 2, 3, 4], 4, { minBudget: 0 }), [2, 3, 5, 6]);
});

test('completion: ties broken by the lower layer index', () => {
  // [10/3, 10/3, 10/3] → floors 3,3,3 and one token left: layer 0 gets it
  assert.deepEqual(completeBudget([1, 1, 1], 10 / 3, { minBudget: 0 }), [4, 3, 3]);
  // two tokens left, four equal fractions → layers 0 and 1
  assert.deepEqual(completeBudget([5, 5, 5, 5], 2.5, { minBudget: 0 }), [3, 3, 2, 2]);
});

test('completion: a clipped layer at maxBudget, the rest rescaled to keep the sum', () => {
  // k = [1,1,1,10], c = 10 (T = 40), bounds [4, 16]: layer 3 → 16, the other three share 24 → 8 each
  assert.deepEqual(completeBudget([1, 1, 1, 10], 10, { minBudget: 4, maxBudget: 16 }), [8, 8, 8, 16]);
});

test('completion: a clipped layer at minBudget, then largest remainder with ties', () => {
  // k = [1,10,10,10], c = 10 (T = 40), min 5: layer 0 → 5, the rest share 35 → 11.67 each → 11,11,11 + 2 tokens to layers 1, 2
  assert.deepEqual(completeBudget([1, 10, 10, 10], 10, { minBudget: 5, maxBudget: 100 }), [5, 12, 12, 11]);
});

test('completion: errors name what is wrong', () => {
  assert.throws(
    () => completeBudget([1, 2, 3], 2.5, { minBudget: 0 }),
    (e: unknown) => e instanceof KvoptError && /integer/.test((e as Error).message),
  );
  assert.throws(() => completeBudget([1, 2, 3], 3, { minBudget: 4 }), /outside/);
  assert.throws(() => completeBudget([1, 2, 3], 30, { minBudget: 0, maxBudget: 20 }), /outside/);
  assert.throws(() => completeBudget([1, 0, 3], 3, { minBudget: 0 }), /layer 1/);
  assert.throws(() => completeBudget([], 3, { minBudget: 0 }), /no layers/);
});

/** Independent reference: bisection on the scale s of Σ clip(s·k_i, lo, hi) = T. */
function referenceReal(k: number[], T: number, lo: number, hi: number): number[] {
  const g = (s: number) => k.reduce((a, v) => a + Math.min(hi, Math.max(lo, s * v)), 0);
  let a = 0;
  let b = 1;
  while (g(b) < T) b *= 2;
  for (let it = 0; it < 200; it++) {
    const m = (a + b) / 2;
    if (g(m) < T) a = m;
    else b = m;
  }
  return k.map((v) => Math.min(hi, Math.max(lo, b * v)));
}

test('completion, random profiles: exact sum, bounds, each layer within 1 token of the real-valued solution', () => {
  const rng = Rng.fromSeed(17);
  for (let trial = 0; trial < 300; trial++) {
    const L = 1 + rng.int(40);
    const lo = rng.int(20);
    const hi = lo + 1 + rng.int(300);
    const c = Math.max(1, lo + rng.int(hi - lo + 1));
    const k = Array.from({ length: L }, () => 0.5 + rng.uniform() * 400);
    const b = completeBudget(k, c, { minBudget: lo, maxBudget: hi });
    assert.equal(
      b.reduce((x, y) => x + y, 0),
      c * L,
    );
    const ref = referenceReal(k, c * L, lo, hi);
    b.forEach((v, i) => {
      assert.ok(Number.isInteger(v) && v >= lo && v <= hi);
      assert.ok(Math.abs(v - ref[i]) < 1 + 1e-6, `trial ${trial} layer ${i}: ${v} vs ${ref[i]}`);
    });
  }
});
