/**
 * The optimiser contract (Optuna-style sampler): it sees candidates and their fitness, never the objective.
 *
 * Convention: fitness is MAXIMISED everywhere in src/search (EvolKV's Eq. 1 is a maximisation). A NaN fitness
 * (a failed evaluation) ranks below every number.
 *
 * Protocol, one generation at a time:
 *   const xs = opt.ask();            // λ candidates; calling ask() again before tell() returns the same ones
 *   opt.tell(xs, fitness);           // fitness[i] belongs to xs[i]; the candidates must be the ones asked
 *   store(opt.state());              // plain JSON; Optimizer.fromState(JSON.parse(...)) resumes bit for bit
 */

export type OptimizerKind = 'cmaes' | 'ga' | 'random';

/** Box bounds per coordinate (lower[i] <= upper[i]; ±Infinity allowed). */
export interface Bounds {
  lower: number[];
  upper: number[];
}

/** Settings every optimiser takes. */
export interface OptimizerOptions {
  /** Start point (CMA-ES mean, GA/random centre). Its length is the dimension n. */
  x0: number[];
  /** Initial step size, in the units of x. */
  sigma0: number;
  /** Candidates per generation; default 4 + floor(3 ln n). */
  populationSize?: number;
  bounds?: Bounds;
  seed: number;
}

export interface BestPoint {
  x: number[];
  fitness: number;
  /** Generation (0-based) in which it was evaluated. */
  generation: number;
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  readonly dimension: number;
  readonly populationSize: number;
  /** Completed generations (number of tell() calls). */
  readonly generation: number;
  /** Number of fitness values received so far. */
  readonly evaluations: number;
  ask(): Float64Array[];
  tell(candidates: readonly ArrayLike<number>[], fitness: readonly number[]): void;
  /** Best point seen (by fitness as told), or null before the first tell(). */
  best(): BestPoint | null;
  /** The optimiser's own stop signal (e.g. CMA-ES step size collapsed); callers may ignore it. */
  shouldStop(): boolean;
  state(): OptimizerStateJson;
}

/** Any optimiser's state: `kind` says which class reads it. Plain JSON (numbers, arrays, null). */
export interface OptimizerStateJson {
  kind: OptimizerKind;
  version: 1;
  [key: string]: unknown;
}

/** λ = 4 + floor(3 ln n) (Hansen's default; EvolKV's population formula). */
export function defaultPopulationSize(n: number): number {
  return 4 + Math.floor(3 * Math.log(n));
}

export function checkOptions(o: OptimizerOptions): { n: number; lambda: number; lower: Float64Array; upper: Float64Array } {
  const n = o.x0.length;
  if (n < 1) throw new Error('optimizer: x0 must have at least one coordinate');
  if (!o.x0.every(Number.isFinite)) throw new Error('optimizer: x0 must be finite');
  if (!(o.sigma0 > 0) || !Number.isFinite(o.sigma0)) throw new Error(`optimizer: sigma0 must be > 0, got ${o.sigma0}`);
  if (!Number.isInteger(o.seed)) throw new Error(`optimizer: seed must be an integer, got ${o.seed}`);
  const lambda = o.populationSize ?? defaultPopulationSize(n);
  if (!Number.isInteger(lambda) || lambda < 2) throw new Error(`optimizer: populationSize must be an integer >= 2, got ${lambda}`);
  const lower = new Float64Array(n).fill(-Infinity);
  const upper = new Float64Array(n).fill(Infinity);
  if (o.bounds) {
    if (o.bounds.lower.length !== n || o.bounds.upper.length !== n) throw new Error(`optimizer: bounds must have ${n} entries`);
    for (let i = 0; i < n; i++) {
      lower[i] = o.bounds.lower[i]!;
      upper[i] = o.bounds.upper[i]!;
      if (!(lower[i]! <= upper[i]!)) throw new Error(`optimizer: bounds[${i}] lower > upper`);
      if (o.x0[i]! < lower[i]! || o.x0[i]! > upper[i]!) throw new Error(`optimizer: x0[${i}] = ${o.x0[i]} is outside the bounds`);
    }
  }
  return { n, lambda, lower, upper };
}

/** Bounds as JSON (Infinity is not JSON: stored as null). */
export function boundsToJson(a: Float64Array): (number | null)[] {
  return Array.from(a, (v) => (Number.isFinite(v) ? v : null));
}
export function boundsFromJson(a: (number | null)[], fill: number): Float64Array {
  return Float64Array.from(a, (v) => (v === null ? fill : v));
}

/** NaN-safe fitness for JSON (NaN is not JSON). */
export function fitnessToJson(f: number): number | null {
  return Number.isNaN(f) ? null : f;
}
export function fitnessFromJson(f: number | null): number {
  return f === null ? NaN : f;
}

/** Best-so-far after a generation whose best candidate is `top` (fitness maximised; NaN never becomes best). */
export function updateBest(best: BestPoint | null, xs: readonly ArrayLike<number>[], fitness: readonly number[], top: number, generation: number): BestPoint | null {
  const f = fitness[top]!;
  if (Number.isNaN(f) || (best !== null && f <= best.fitness)) return best;
  return { x: Array.from(xs[top]!), fitness: f, generation };
}

/** A copy of a best point for callers, and its JSON form (NaN-safe) for optimiser states. */
export const copyBest = (b: BestPoint | null): BestPoint | null => (b ? { x: [...b.x], fitness: b.fitness, generation: b.generation } : null);
export const bestToJson = (b: BestPoint | null) => (b ? { ...b, fitness: fitnessToJson(b.fitness) } : null);
export const bestFromJson = (b: { x: number[]; fitness: number | null; generation: number } | null): BestPoint | null =>
  b ? { x: [...b.x], fitness: fitnessFromJson(b.fitness), generation: b.generation } : null;

/** Ranks by fitness, best (largest) first; NaN last; ties keep the lower index first (deterministic). */
export function rankDescending(fitness: readonly number[]): number[] {
  const key = (f: number) => (Number.isNaN(f) ? -Infinity : f);
  return fitness
    .map((_, i) => i)
    .sort((a, b) => {
      const d = key(fitness[b]!) - key(fitness[a]!);
      if (d > 0) return 1;
      if (d < 0) return -1;
      // both -Infinity/NaN or equal: NaN after -Infinity, then index
      const na = Number.isNaN(fitness[a]!) ? 1 : 0;
      const nb = Number.isNaN(fitness[b]!) ? 1 : 0;
      return na - nb || a - b;
    });
}

/** Checks that told candidates are exactly the pending ones (same order, same values). */
export function checkTold(pending: readonly Float64Array[] | null, candidates: readonly ArrayLike<number>[], fitness: readonly number[], who: string): void {
  if (!pending) throw new Error(`${who}: tell() without a pending ask()`);
  if (candidates.length !== pending.length || fitness.length !== pending.length) {
    throw new Error(`${who}: tell() needs ${pending.length} candidates and fitness values, got ${candidates.length} and ${fitness.length}`);
  }
  for (let k = 0; k < pending.length; k++) {
    const p = pending[k]!;
    const c = candidates[k]!;
    if (c.length !== p.length) throw new Error(`${who}: candidate ${k} has the wrong length`);
    for (let i = 0; i < p.length; i++) {
      if (c[i] !== p[i]) throw new Error(`${who}: candidate ${k} is not the one asked (coordinate ${i})`);
    }
    const f = fitness[k]!;
    if (typeof f !== 'number' || f === Infinity) throw new Error(`${who}: fitness ${k} must be a finite number or NaN`);
  }
}
