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
