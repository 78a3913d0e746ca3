/**
 * The bookkeeping every optimiser shares, so that CMA-ES, GA and random search keep only their mathematics
 * (as an Optuna sampler leaves the study to do the rest): validated options, the pending generation (ask() is
 * idempotent until tell()), checking that what is told is what was asked, the counters, best-so-far, and the
 * versioned JSON state a stored search resumes from bit for bit.
 *
 * A subclass implements:
 *   sample()      λ new candidates (the only place it draws random numbers, from `this.rng`);
 *   learn()       update its model from the told generation (`order` ranks it best first, NaN last);
 *   extraOptions / extraState / restoreExtra: its own settings and model in the state JSON.
 */
import { Rng, type RngState } from '../rng.ts';
import type { BestPoint, Optimizer, OptimizerKind, OptimizerOptions, OptimizerStateJson } from './types.ts';

/** λ = 4 + floor(3 ln n) (Hansen's default; EvolKV's population formula). */
export function defaultPopulationSize(n: number): number {
  return 4 + Math.floor(3 * Math.log(n));
}

/** Ranks by fitness, best (largest) first; NaN last; ties keep the lower index first (deterministic). */
export function rankDescending(fitness: readonly number[]): number[] {
  const key = (f: number) => (Number.isNaN(f) ? -Infinity : f);
  return fitness
    .map((_, i) => i)
    .sort((a, b) => {
      const d = key(fitness[b]) - key(fitness[a]);
      if (d > 0) return 1;
      if (d < 0) return -1;
      // both -Infinity/NaN or equal: NaN after -Infinity, then index
      const na = Number.isNaN(fitness[a]) ? 1 : 0;
      const nb = Number.isNaN(fitness[b]) ? 1 : 0;
      return na - nb || a - b;
    });
}

/** NaN-safe fitness for JSON (NaN is not JSON). */
export const fitnessToJson = (f: number): number | null => (Number.isNaN(f) ? null : f);
export const fitnessFromJson = (f: number | null): number => (f === null ? Number.NaN : f);

/** Bounds as JSON (Infinity is not JSON: stored as null). */
const boundsToJson = (a: Float64Array): (number | null)[] => Array.from(a, (v) => (Number.isFinite(v) ? v : null));
const boundsFromJson = (a: (number | null)[], fill: number): number[] => a.map((v) => (v === null ? fill : v));

const vectorsToJson = (xs: readonly Float64Array[] | null): number[][] | null => (xs ? xs.map((x) => Array.from(x)) : null);
export const vectorsFromJson = (xs: number[][] | null): Float64Array[] | null => (xs ? xs.map((x) => Float64Array.from(x)) : null);

/** The options part of every state: the settings the optimiser was built with (its own settings added). */
export interface OptionsJson {
  x0: number[];
  sigma0: number;
  populationSize: number;
  lower: (number | null)[];
  upper: (number | null)[];
  seed: number;
  [own: string]: unknown;
}

/** The fields every optimiser's state has (version 1); each subclass adds its own model. */
export interface SamplerStateJson extends OptimizerStateJson {
  options: OptionsJson;
  rng: RngState;
  generation: number;
  evaluations: number;
  pending: number[][] | null;
  best: { x: number[]; fitness: number | null; generation: number } | null;
}

/** Reads a stored state's common options back into constructor options. */
export function optionsFromJson(o: OptionsJson): OptimizerOptions {
  return {
    x0: o.x0,
    sigma0: o.sigma0,
    populationSize: o.populationSize,
    bounds: { lower: boundsFromJson(o.lower, -Infinity), upper: boundsFromJson(o.upper, Infinity) },
    seed: o.seed,
  };
}

export abstract class Sampler implements Optimizer {
  abstract readonly kind: OptimizerKind;
  readonly dimension: number;
  protected readonly x0: Float64Array;
  protected readonly sigma0: number;
  /** λ as configured (CMA-ES's IPOP restarts grow the live population beyond it). */
  protected readonly lambda0: number;
  protected readonly lower: Float64Array;
  protected readonly upper: Float64Array;
  private readonly seed: number;
  protected rng: Rng;
  private gen = 0;
  private evals = 0;
  private pending: Float64Array[] | null = null;
  private bestPoint: BestPoint | null = null;

  protected constructor(o: OptimizerOptions) {
    const n = o.x0.length;
    const who = 'optimizer';
    if (n < 1) throw new Error(`${who}: x0 must have at least one coordinate`);
    if (!o.x0.every(Number.isFinite)) throw new Error(`${who}: x0 must be finite`);
    if (!(o.sigma0 > 0) || !Number.isFinite(o.sigma0)) throw new Error(`${who}: sigma0 must be > 0, got ${o.sigma0}`);
    if (!Number.isInteger(o.seed)) throw new Error(`${who}: seed must be an integer, got ${o.seed}`);
    const lambda = o.populationSize ?? defaultPopulationSize(n);
    if (!Number.isInteger(lambda) || lambda < 2) throw new Error(`${who}: populationSize must be an integer >= 2, got ${lambda}`);
    const lower = new Float64Array(n).fill(-Infinity);
    const upper = new Float64Array(n).fill(Infinity);
    if (o.bounds) {
      if (o.bounds.lower.length !== n || o.bounds.upper.length !== n) throw new Error(`${who}: bounds must have ${n} entries`);
      lower.set(o.bounds.lower);
      upper.set(o.bounds.upper);
      for (let i = 0; i < n; i++) {
        if (!(lower[i] <= upper[i])) throw new Error(`${who}: bounds[${i}] lower > upper`);
        if (o.x0[i] < lower[i] || o.x0[i] > upper[i]) throw new Error(`${who}: x0[${i}] = ${o.x0[i]} is outside the bounds`);
      }
    }
    this.dimension = n;
    this.lambda0 = lambda;
    this.x0 = Float64Array.from(o.x0);
    this.sigma0 = o.sigma0;
    this.lower = lower;
    this.upper = upper;
    this.seed = o.seed;
    this.rng = Rng.fromSeed(o.seed);
  }

  /** λ new candidates for the next generation. */
  protected abstract sample(): Float64Array[];
  /** Learns from the told generation: `xs[k]` scored `fitness[k]`; `order` ranks them best first, NaN last. */
  protected abstract learn(xs: Float64Array[], fitness: readonly number[], order: number[]): void;
  /** This optimiser's own settings, stored in `options` beside the common ones. */
  protected abstract extraOptions(): Record<string, unknown>;
  /** This optimiser's model, stored at the top level of its state. */
  protected abstract extraState(): Record<string, unknown>;
  /** Restores what extraState() wrote. */
  protected abstract restoreExtra(state: Record<string, unknown>): void;

  get populationSize(): number {
    return this.lambda0;
  }
  /** Completed generations (number of tell() calls). */
  get generation(): number {
    return this.gen;
  }
  /** Number of fitness values received so far. */
  get evaluations(): number {
    return this.evals;
  }

  ask(): Float64Array[] {
    if (!this.pending) this.pending = this.sample();
    return this.pending.map((x) => Float64Array.from(x));
  }

  tell(candidates: readonly ArrayLike<number>[], fitness: readonly number[]): void {
    const xs = this.checkTold(candidates, fitness);
    const order = rankDescending(fitness);
    const top = order[0];
    const f = fitness[top];
    // best-so-far (fitness maximised; NaN never becomes best)
    if (!Number.isNaN(f) && (this.bestPoint === null || f > this.bestPoint.fitness)) {
      this.bestPoint = { x: Array.from(xs[top]), fitness: f, generation: this.gen };
    }
    this.learn(xs, fitness, order);
    this.pending = null;
    this.gen++;
    this.evals += fitness.length;
  }

  best(): BestPoint | null {
    const b = this.bestPoint;
    return b ? { x: [...b.x], fitness: b.fitness, generation: b.generation } : null;
  }

  /** The optimiser's own stop signal (e.g. CMA-ES step size collapsed); callers may ignore it. */
  shouldStop(): boolean {
    return false;
  }

  state(): SamplerStateJson {
    const b = this.bestPoint;
    return {
      kind: this.kind,
      version: 1,
      options: {
        x0: Array.from(this.x0),
        sigma0: this.sigma0,
        populationSize: this.lambda0,
        lower: boundsToJson(this.lower),
        upper: boundsToJson(this.upper),
        seed: this.seed,
        ...this.extraOptions(),
      },
      rng: this.rng.state(),
      generation: this.gen,
      evaluations: this.evals,
      pending: vectorsToJson(this.pending),
      best: b ? { ...b, fitness: fitnessToJson(b.fitness) } : null,
      ...this.extraState(),
    };
  }

  /**
   * Rebuilds an optimiser from its stored state: `build` makes one from the stored options (which re-validates
   * them), then the counters, random stream, pending generation, best point and the subclass's model are restored.
   */
  protected static restore<T extends Sampler>(state: OptimizerStateJson, kind: OptimizerKind, build: (options: OptionsJson) => T): T {
    if (state?.kind !== kind || state.version !== 1) throw new Error(`${kind} state: expected kind "${kind}" version 1, got ${state?.kind} ${state?.version}`);
    const s = state as SamplerStateJson;
    const opt = build(s.options);
    opt.rng = Rng.fromState(s.rng);
    opt.gen = s.generation;
    opt.evals = s.evaluations;
    opt.pending = vectorsFromJson(s.pending);
    opt.bestPoint = s.best ? { x: [...s.best.x], fitness: fitnessFromJson(s.best.fitness), generation: s.best.generation } : null;
    opt.restoreExtra(s);
    return opt;
  }

  /** Checks that the told candidates are exactly the pending ones (same order, same values); returns those. */
  private checkTold(candidates: readonly ArrayLike<number>[], fitness: readonly number[]): Float64Array[] {
    const pending = this.pending;
    const who = this.kind;
    if (!pending) throw new Error(`${who}: tell() without a pending ask()`);
    if (candidates.length !== pending.length || fitness.length !== pending.length) {
      throw new Error(`${who}: tell() needs ${pending.length} candidates and fitness values, got ${candidates.length} and ${fitness.length}`);
    }
    for (let k = 0; k < pending.length; k++) {
      const p = pending[k];
      const c = candidates[k];
      if (c.length !== p.length) throw new Error(`${who}: candidate ${k} has the wrong length`);
      for (let i = 0; i < p.length; i++) {
        if (c[i] !== p[i]) throw new Error(`${who}: candidate ${k} is not the one asked (coordinate ${i})`);
      }
      const f = fitness[k];
      if (typeof f !== 'number' || f === Infinity) throw new Error(`${who}: fitness ${k} must be a finite number or NaN`);
    }
    return pending;
  }

  /** Clips x to the box in place. */
  protected clip(x: Float64Array): Float64Array {
    for (let i = 0; i < x.length; i++) x[i] = Math.min(this.upper[i], Math.max(this.lower[i], x[i]));
    return x;
  }
}
