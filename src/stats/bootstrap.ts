/**
 * Seeded percentile bootstrap over samples (Efron & Tibshirani, ch. 13): resample the n samples with
 * replacement B times, compute the statistic on each resample, and take the α/2 and 1 − α/2 quantiles
 * of those B values as the interval. No npm package offers this (checked: none maintained), so it lives
 * here, tested against a naive implementation, a hand-computed case and the normal-theory interval.
 *
 * Paired statistics (differences, ratios against the full cache) resample sample *indices*, so both
 * members of a pair always travel together.
 */
import { mulberry32 } from '../util/mulberry32.ts';

export const DEFAULT_BOOTSTRAP = 1000;
export const DEFAULT_LEVEL = 0.95;

export interface BootstrapOptions {
  /** Resamples (B). 0 turns intervals off (lo = hi = null). */
  resamples?: number;
  /** Seed of the resampling; the same seed and data give the same interval. */
  seed?: number;
  /** Coverage of the interval, 0.95 by default. */
  level?: number;
}

/** A point estimate and its percentile interval; lo/hi are null when there is no interval (n < 2 or B = 0). */
export interface Estimate {
  value: number;
  lo: number | null;
  hi: number | null;
}

/** Quantile of sorted values with linear interpolation between order statistics (R type 7, numpy default). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const i = Math.floor(h);
  const j = Math.min(i + 1, n - 1);
  return sorted[i] + (h - i) * (sorted[j] - sorted[i]);
}

/**
 * The bootstrap distribution of `statistic`: B values, each the statistic of one resample. `statistic`
 * gets the resampled indices (length n, values in [0, n)); it must not keep the array.
 */
export function bootstrapDistribution(n: number, statistic: (idx: Int32Array) => number, resamples: number, seed: number): Float64Array {
  const rand = mulberry32(seed);
  const idx = new Int32Array(n);
  const out = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < n; i++) idx[i] = Math.floor(rand() * n);
    out[b] = statistic(idx);
  }
  return out;
}

/**
 * Point estimate (statistic on the original sample) and percentile interval. Resamples where the
 * statistic is not finite (e.g. a ratio whose denominator resampled to 0) are dropped.
 */
export function bootstrap(n: number, statistic: (idx: Int32Array) => number, opts: BootstrapOptions = {}): Estimate {
  const identity = Int32Array.from({ length: n }, (_, i) => i);
  const value = n > 0 ? statistic(identity) : NaN;
  const B = opts.resamples ?? DEFAULT_BOOTSTRAP;
  if (n < 2 || B <= 0 || !Number.isFinite(value)) return { value, lo: null, hi: null };
  const dist = bootstrapDistribution(n, statistic, B, opts.seed ?? 0)
    .filter(Number.isFinite)
    .sort();
  if (dist.length === 0) return { value, lo: null, hi: null };
  const alpha = 1 - (opts.level ?? DEFAULT_LEVEL);
  return { value, lo: quantileSorted(dist, alpha / 2), hi: quantileSorted(dist, 1 - alpha / 2) };
}

/** Mean of xs with its bootstrap interval. */
export function meanInterval(xs: readonly number[], opts: BootstrapOptions = {}): Estimate {
  return bootstrap(
    xs.length,
    (idx) => {
      let s = 0;
      for (let i = 0; i < idx.length; i++) s += xs[idx[i]];
      return s / idx.length;
    },
    opts,
  );
}

/**
 * Quality loss against the full cache, 1 − mean(score)/mean(full) over paired samples (DefensiveKV's
 * definition), with an interval from resampling the pairs.
 */
export function lossInterval(scores: readonly number[], full: readonly number[], opts: BootstrapOptions = {}): Estimate {
  if (scores.length !== full.length) throw new Error('lossInterval: scores and full scores must be paired');
  return bootstrap(
    scores.length,
    (idx) => {
      let s = 0;
      let f = 0;
      for (let i = 0; i < idx.length; i++) {
        s += scores[idx[i]];
        f += full[idx[i]];
      }
      return f === 0 ? NaN : 1 - s / f;
    },
    opts,
  );
}

/** A paired comparison of a method (a) with a reference (b) on the same samples. */
export interface PairedDifference extends Estimate {
  /** Mean of a − b over the pairs. */
  value: number;
  n: number;
  /** Samples where a scored higher / the same / lower than the reference. */
  wins: number;
  ties: number;
  losses: number;
  /** The interval lies entirely above or below zero. */
  distinguishable: boolean;
}

/** Mean paired difference a − b with its bootstrap interval and per-sample win/tie/loss counts. */
export function pairedDifference(a: readonly number[], b: readonly number[], opts: BootstrapOptions & { tieTolerance?: number } = {}): PairedDifference {
  if (a.length !== b.length) throw new Error('pairedDifference: a and b must be paired');
  const d = a.map((x, i) => x - b[i]);
  const e = meanInterval(d, opts);
  const tol = opts.tieTolerance ?? 1e-12;
  const wins = d.filter((x) => x > tol).length;
  const losses = d.filter((x) => x < -tol).length;
  return {
    ...e,
    n: d.length,
    wins,
    ties: d.length - wins - losses,
    losses,
    distinguishable: e.lo !== null && e.hi !== null && (e.lo > 0 || e.hi < 0),
  };
}

/** A 32-bit seed from a base seed and a label (FNV-1a), so each table row has its own fixed resampling. */
export function seedFor(base: number, label: string): number {
  let h = (0x811c9dc5 ^ (base >>> 0)) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Mean over groups of the group means (each task weighs the same), with a stratified bootstrap: each group
 * is resampled within itself, so the interval reflects every task's own sample size.
 */
export function stratifiedMeanInterval(groups: readonly (readonly number[])[], opts: BootstrapOptions = {}): Estimate {
  const means = groups.map((g) => g.reduce((a, b) => a + b, 0) / g.length);
  const value = means.reduce((a, b) => a + b, 0) / means.length;
  const B = opts.resamples ?? DEFAULT_BOOTSTRAP;
  if (groups.length === 0 || groups.some((g) => g.length < 2) || B <= 0 || !Number.isFinite(value)) return { value, lo: null, hi: null };
  const acc = new Float64Array(B);
  groups.forEach((g, k) => {
    const d = bootstrapDistribution(
      g.length,
      (idx) => {
        let s = 0;
        for (let i = 0; i < idx.length; i++) s += g[idx[i]];
        return s / idx.length;
      },
      B,
      seedFor(opts.seed ?? 0, `group${k}`),
    );
    for (let b = 0; b < B; b++) acc[b] += d[b] / groups.length;
  });
  acc.sort();
  const alpha = 1 - (opts.level ?? DEFAULT_LEVEL);
  return { value, lo: quantileSorted(acc, alpha / 2), hi: quantileSorted(acc, 1 - alpha / 2) };
}
