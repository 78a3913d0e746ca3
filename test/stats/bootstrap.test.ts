import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrap, lossInterval, meanInterval, pairedDifference, quantileSorted, seedFor } from '../../src/stats/bootstrap.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';

test('quantile with linear interpolation matches hand-computed values (numpy default)', () => {
  const xs = [1, 2, 3, 4];
  // h = (n-1) q: q=0.5 → 1.5 → 2.5; q=0.25 → 0.75 → 1.75; q=0.975 → 2.925 → 3.925
  assert.equal(quantileSorted(xs, 0.5), 2.5);
  assert.equal(quantileSorted(xs, 0.25), 1.75);
  assert.ok(Math.abs(quantileSorted(xs, 0.975) - 3.925) < 1e-12);
  assert.equal(quantileSorted([7], 0.3), 7);
});

test('hand-computed case: two samples {0, 1} give the interval [0, 1] around the mean 0.5', () => {
  // Resample means are 0 (p 1/4), 0.5 (p 1/2) or 1 (p 1/4): with B = 1000 the 2.5 % and 97.5 % quantiles
  // are 0 and 1 unless fewer than 25 of the 1000 draws landed on an end, which has negligible probability.
  const e = meanInterval([0, 1], { resamples: 1000, seed: 3 });
  assert.equal(e.value, 0.5);
  assert.equal(e.lo, 0);
  assert.equal(e.hi, 1);
});

test('constant data: a zero-width interval at the value; one sample or B = 0: no interval', () => {
  assert.deepEqual(meanInterval([0.3, 0.3, 0.3, 0.3]), { value: 0.3, lo: 0.3, hi: 0.3 });
  assert.deepEqual(meanInterval([0.7]), { value: 0.7, lo: null, hi: null });
  assert.deepEqual(meanInterval([0.1, 0.2], { resamples: 0 }), { value: 0.15000000000000002, lo: null, hi: null });
});

test('agrees exactly with a naive bootstrap written independently (same random draws)', () => {
  const rand = mulberry32(11);
  const xs = Array.from({ length: 37 }, () => rand() * rand());
  const B = 500;
  const seed = 99;
  // Naive: array copies, Array.sort with comparator, explicit type-7 quantile.
  const r = mulberry32(seed);
  const means: number[] = [];
  for (let b = 0; b < B; b++) {
    const sample: number[] = [];
    for (let i = 0; i < xs.length; i++) sample.push(xs[Math.floor(r() * xs.length)]);
    means.push(sample.reduce((a, c) => a + c, 0) / sample.length);
  }
  means.sort((a, b) => a - b);
  const q = (p: number) => {
    const pos = p * (B - 1);
    const lo = Math.floor(pos);
    return means[lo] * (1 - (pos - lo)) + means[Math.min(lo + 1, B - 1)] * (pos - lo);
  };
  const e = meanInterval(xs, { resamples: B, seed });
  assert.ok(Math.abs(e.lo! - q(0.025)) < 1e-12, `${e.lo} vs ${q(0.025)}`);
  assert.ok(Math.abs(e.hi! - q(0.975)) < 1e-12, `${e.hi} vs ${q(0.975)}`);
  assert.ok(Math.abs(e.value - xs.reduce((a, c) => a + c, 0) / xs.length) < 1e-15);
});

test('large sample: the bootstrap interval matches the normal-theory interval mean ± 1.96 s/√n', () => {
  const rand = mulberry32(5);
  // Box-Muller normals, mean 2, sd 3, n = 4000
  const xs = Array.from({ length: 4000 }, () => 2 + 3 * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
  const n = xs.length;
  const m = xs.reduce((a, b) => a + b, 0) / n;
  const s = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1));
  const half = (1.96 * s) / Math.sqrt(n);
  const e = meanInterval(xs, { resamples: 2000, seed: 1 });
  // Monte-Carlo error of a 2.5 % quantile with B = 2000 is a few % of the half-width.
  assert.ok(Math.abs(e.lo! - (m - half)) < 0.1 * half, `lo ${e.lo} vs ${m - half}`);
  assert.ok(Math.abs(e.hi! - (m + half)) < 0.1 * half, `hi ${e.hi} vs ${m + half}`);
});

test('the same seed gives the same interval; the interval contains the mean', () => {
  const xs = [0.1, 0.5, 0.2, 0.9, 0.4, 0.4, 0.3];
  assert.deepEqual(meanInterval(xs, { seed: 4 }), meanInterval(xs, { seed: 4 }));
  const e = meanInterval(xs, { seed: 4 });
  assert.ok(e.lo! <= e.value && e.value <= e.hi!);
  assert.notEqual(seedFor(0, 'snapkv|64'), seedFor(0, 'snapkv|32'));
});

test('paired difference: mean of differences, win/tie/loss, and distinguishable only when the interval excludes 0', () => {
  const a = [1, 0.5, 0.6, 0.7, 0.8, 0.9];
  const b = [0.9, 0.5, 0.5, 0.6, 0.7, 0.8];
  const d = pairedDifference(a, b, { seed: 2 });
  assert.ok(Math.abs(d.value - 0.5 / 6) < 1e-12);
  assert.deepEqual([d.wins, d.ties, d.losses, d.n], [5, 1, 0, 6]);
  // every resampled mean difference is >= 0; it is 0 only if all 6 draws hit the tie (p = 6^-6)
  assert.ok(d.lo! > 0 && d.distinguishable);
  const noisy = pairedDifference([0.5, 0.7, 0.4, 0.6], [0.6, 0.6, 0.5, 0.5], { seed: 2 });
  assert.ok(noisy.lo! < 0 && noisy.hi! > 0);
  assert.equal(noisy.distinguishable, false);
  assert.deepEqual([noisy.wins, noisy.ties, noisy.losses], [2, 0, 2]);
});

test('loss interval resamples pairs: a hand-checkable ratio and an independent recomputation', () => {
  const s = [0.5, 1, 0.5, 1];
  const f = [1, 1, 1, 1];
  const e = lossInterval(s, f, { seed: 8, resamples: 400 });
  assert.equal(e.value, 1 - 3 / 4);
  // loss of a resample = 1 - mean(s*) since f is all 1: the same as 1 - each mean of s resampled the same way
  const m = bootstrap(4, (idx) => 1 - Array.from(idx, (i) => s[i]).reduce((a, c) => a + c, 0) / 4, { seed: 8, resamples: 400 });
  assert.deepEqual(e, m);
  assert.ok(e.lo! >= 0 && e.hi! <= 0.5);
});
