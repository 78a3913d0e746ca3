/**
 * EvolKV's fitness and budget completion (algorithms.md §1; Yu & Chai, arXiv 2509.08315, Eq. 1-2 as read in the
 * reproduction `sravanthkod/KVCache-Factory` NAS_Assets/run_evolkv_reproduction.py).
 *
 * Budgets are tokens kept per KV head per layer, observation window included (design.md §4.3).
 */
import { KvoptError } from '../util/errors.ts';

export const DEFAULT_LAMBDA = 0.3; // λ, weight of CacheScore in the fitness (Sec. 4.1)
export const DEFAULT_GAMMA = 0.2; // γ, under-spending penalty slope (Eq. 2)

/**
 * CacheScore (Eq. 2), k̄ = mean budget, c = target mean:
 *   k̄ > c : max(0, 1 − (k̄ − c)/c)     (linear, 0 at 2c)
 *   k̄ ≤ c : 1 − γ (1 − k̄/c)            (mild penalty for under-spending; 1 at k̄ = c)
 */
export function cacheScore(meanBudget: number, target: number, gamma = DEFAULT_GAMMA): number {
  if (!(target > 0)) throw new Error(`cacheScore: target must be > 0, got ${target}`);
  if (meanBudget > target) return Math.max(0, 1 - (meanBudget - target) / target);
  return 1 - gamma * (1 - meanBudget / target);
}

export interface FitnessParts {
  /** f(S): the task score from the engine (higher is better). */
  taskScore: number;
  /** Mean budget the CacheScore was computed on (group or all layers, see EvolKV's `cacheScoreScope`). */
  meanBudget: number;
  cacheScore: number;
  /** f(S) · (1 + λ·CacheScore): the value the optimiser maximises. */
  fitness: number;
}

/** Eq. 1: fitness = f · (1 + λ · CacheScore(k̄, c)). */
export function evolkvFitness(taskScore: number, meanBudget: number, target: number, lambda = DEFAULT_LAMBDA, gamma = DEFAULT_GAMMA): FitnessParts {
  const cs = cacheScore(meanBudget, target, gamma);
  return { taskScore, meanBudget, cacheScore: cs, fitness: taskScore * (1 + lambda * cs) };
}

export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

export interface BudgetBounds {
  /** Smallest budget a layer may get (an integer ≥ 0; e.g. the observation window so the window fits). */
  minBudget: number;
  /** Largest budget a layer may get (an integer; e.g. the context length). Default Infinity. */
  maxBudget?: number;
}

/**
 * KV Budget Completion: turns any positive per-layer profile k into integer budgets b with Σb = c·L exactly,
 * minBudget ≤ b_i ≤ maxBudget.
 *  1. Proportional rescale b_i = k_i·T/A (T = c·L, A = Σk). When that breaks a bound, the clipped layers are
 *     fixed at the bound and the rest rescaled again; the fixed point is b_i = clip(s·k_i, min, max) with the
 *     scalar s that makes Σb_i = T (Σ clip(s·k_i) is monotone in s, so s is found exactly on its breakpoints).
 *  2. Largest-remainder (Hamilton) rounding: floor every b_i, then give +1 to the T − Σ⌊b_i⌋ layers with the largest
 *     fractional parts; ties go to the lower layer index. Layers already at maxBudget never receive one.
 * The reproduction instead rounds up (ceil) and clips, which misses the target by up to L tokens; algorithms.md
 * notes that largest remainder was adopted later so the mean equals c exactly.
 *
 * c·L must be an integer (else no integer profile has mean c) and L·min ≤ c·L ≤ L·max must hold.
 */
export function completeBudget(profile: ArrayLike<number>, target: number, bounds: BudgetBounds): number[] {
  const L = profile.length;
  const lo = bounds.minBudget;
  const hi = bounds.maxBudget ?? Infinity;
  if (L === 0) throw new KvoptError('budget completion: the profile has no layers');
  if (!Number.isInteger(lo) || lo < 0) throw new KvoptError(`budget completion: minBudget must be an integer >= 0, got ${lo}`);
  if (hi !== Infinity && (!Number.isInteger(hi) || hi < lo))
    throw new KvoptError(`budget completion: maxBudget must be an integer >= minBudget (${lo}), got ${hi}`);
  const totalReal = target * L;
  const T = Math.round(totalReal);
  if (!(target > 0) || Math.abs(totalReal - T) > 1e-9 * Math.max(1, totalReal)) {
    throw new KvoptError(`budget completion: target × layers must be a positive integer (target ${target}, ${L} layers gives ${totalReal})`);
  }
  if (T < lo * L || T > hi * L) {
    throw new KvoptError(`budget completion: target ${target} is outside [minBudget ${lo}, maxBudget ${hi}]`);
  }
  const k = Array.from(profile, (v, i) => {
    if (!Number.isFinite(v) || v <= 0) throw new KvoptError(`budget completion: layer ${i} budget must be a finite number > 0, got ${v}`);
    return v;
  });

  const real = proportionalWithBounds(k, T, lo, hi);

  // largest remainder
  const b = real.map((v) => Math.min(hi, Math.floor(v)));
  let remainder = T - b.reduce((a, v) => a + v, 0);
  const order = real
    .map((v, i) => ({ i, frac: v - Math.floor(v) }))
    .filter(({ i }) => b[i] < hi)
    // fractions equal up to rounding noise (1e-9 tokens) count as ties: the lower layer index wins
    .sort((x, y) => (Math.abs(y.frac - x.frac) > 1e-9 ? y.frac - x.frac : x.i - y.i));
  for (let r = 0; remainder > 0 && r < order.length; r++, remainder--) b[order[r].i] += 1;
  // Floating error can only leave |remainder| tiny; correct it deterministically (never happens for sane inputs).
  for (let i = 0; remainder < 0 && i < L; i++) {
    if (b[i] > lo) {
      b[i] -= 1;
      remainder++;
    }
  }
  if (remainder !== 0) throw new Error(`budget completion: internal rounding error (${remainder} left)`);
  return b;
}

/** Real-valued b_i = clip(s·k_i, lo, hi) with Σb = T (see completeBudget). */
function proportionalWithBounds(k: number[], T: number, lo: number, hi: number): number[] {
  const sumAt = (s: number) => k.reduce((a, v) => a + Math.min(hi, Math.max(lo, v * s)), 0);
  // breakpoints where a layer enters or leaves its bounds
  const points = new Set<number>([0]);
  for (const v of k) {
    points.add(lo / v);
    if (hi !== Infinity) points.add(hi / v);
  }
  const sorted = [...points].sort((a, b) => a - b);
  let sPrev = 0;
  let gPrev = sumAt(0);
  let s = NaN;
  for (const p of sorted) {
    const g = sumAt(p);
    if (g >= T) {
      s = g === gPrev ? p : sPrev + ((T - gPrev) * (p - sPrev)) / (g - gPrev);
      break;
    }
    sPrev = p;
    gPrev = g;
  }
  if (Number.isNaN(s)) {
    // beyond the last breakpoint (hi = ∞): every layer is above lo and the sum is linear in s
    const free = k.reduce((a, v) => a + v, 0);
    s = T / free;
  }
  return k.map((v) => Math.min(hi, Math.max(lo, v * s)));
}
