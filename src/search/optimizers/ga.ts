/**
 * A plain real-coded genetic algorithm behind the optimiser interface, as a baseline for CMA-ES:
 * - generation 0: x0 itself plus λ−1 points x0 + σ0·N(0, I), clipped to the bounds;
 * - elitism: the `elite` best of the last generation are copied unchanged;
 * - the rest: two parents by tournament selection (size `tournament`, best fitness wins, ties → lower index),
 *   blend crossover BLX-α per coordinate (child uniform in [lo − α·d, hi + α·d], d = hi − lo; Eshelman & Schaffer 1993),
 *   then gaussian mutation of each coordinate with probability `mutationRate` by σ0·N(0,1); clipped to the bounds.
 * Fitness is maximised. Elites are re-evaluated (the engine's fitness may be noisy; the GA does not cache).
 */
import { Rng, type RngState } from '../rng.ts';
import {
  bestFromJson,
  bestToJson,
  boundsFromJson,
  copyBest,
  boundsToJson,
  checkOptions,
  checkTold,
  fitnessFromJson,
  fitnessToJson,
  rankDescending,
  type BestPoint,
  type Optimizer,
  type OptimizerOptions,
  type OptimizerStateJson,
  updateBest,
} from './types.ts';

export interface GaOptions extends OptimizerOptions {
  /** Individuals copied unchanged into the next generation. Default 1. */
  elite?: number;
  /** Tournament size. Default 2. */
  tournament?: number;
  /** BLX-α. Default 0.5. */
  alpha?: number;
  /** Per-coordinate mutation probability. Default 1/n. */
  mutationRate?: number;
}

const STATE_KIND = 'ga';

export class GeneticAlgorithm implements Optimizer {
  readonly kind = STATE_KIND;
  readonly dimension: number;
  readonly populationSize: number;
  private readonly x0: Float64Array;
  private readonly sigma0: number;
  private readonly lower: Float64Array;
  private readonly upper: Float64Array;
  private readonly elite: number;
  private readonly tournament: number;
  private readonly alpha: number;
  private readonly mutationRate: number;
  private readonly seed: number;
  private rng: Rng;
  private gen = 0;
  private evals = 0;
  /** The last evaluated generation and its fitness (parents of the next). */
  private parents: Float64Array[] | null = null;
  private parentFitness: number[] | null = null;
  private pending: Float64Array[] | null = null;
  private bestPoint: BestPoint | null = null;

  constructor(options: GaOptions) {
    const { n, lambda, lower, upper } = checkOptions(options);
    this.dimension = n;
    this.populationSize = lambda;
    this.x0 = Float64Array.from(options.x0);
    this.sigma0 = options.sigma0;
    this.lower = lower;
    this.upper = upper;
    this.elite = options.elite ?? 1;
    this.tournament = options.tournament ?? 2;
    this.alpha = options.alpha ?? 0.5;
    this.mutationRate = options.mutationRate ?? 1 / n;
    this.seed = options.seed;
    if (!Number.isInteger(this.elite) || this.elite < 0 || this.elite >= lambda) throw new Error(`ga: elite must be an integer in [0, ${lambda - 1}]`);
    if (!Number.isInteger(this.tournament) || this.tournament < 1) throw new Error('ga: tournament must be an integer >= 1');
    this.rng = Rng.fromSeed(options.seed);
  }

  get generation(): number {
    return this.gen;
  }
  get evaluations(): number {
    return this.evals;
  }

  private clip(x: Float64Array): Float64Array {
    for (let i = 0; i < x.length; i++) x[i] = Math.min(this.upper[i]!, Math.max(this.lower[i]!, x[i]!));
    return x;
  }

  private select(): Float64Array {
    const fit = this.parentFitness!;
    const key = (i: number) => (Number.isNaN(fit[i]!) ? -Infinity : fit[i]!);
    let winner = this.rng.int(fit.length);
    for (let t = 1; t < this.tournament; t++) {
      const c = this.rng.int(fit.length);
      if (key(c) > key(winner) || (key(c) === key(winner) && c < winner)) winner = c;
    }
    return this.parents![winner]!;
  }

  ask(): Float64Array[] {
    if (this.pending) return this.pending.map((x) => Float64Array.from(x));
    const n = this.dimension;
    const out: Float64Array[] = [];
    if (!this.parents) {
      out.push(Float64Array.from(this.x0));
      while (out.length < this.populationSize) {
        const x = new Float64Array(n);
        for (let i = 0; i < n; i++) x[i] = this.x0[i]! + this.sigma0 * this.rng.normal();
        out.push(this.clip(x));
      }
    } else {
      const order = rankDescending(this.parentFitness!);
      for (let e = 0; e < this.elite; e++) out.push(Float64Array.from(this.parents[order[e]!]!));
      while (out.length < this.populationSize) {
        const a = this.select();
        const b = this.select();
        const x = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const lo = Math.min(a[i]!, b[i]!);
          const hi = Math.max(a[i]!, b[i]!);
          const d = hi - lo;
          x[i] = lo - this.alpha * d + this.rng.uniform() * (1 + 2 * this.alpha) * d;
          if (this.rng.uniform() < this.mutationRate) x[i] += this.sigma0 * this.rng.normal();
        }
        out.push(this.clip(x));
      }
    }
    this.pending = out;
    return out.map((x) => Float64Array.from(x));
  }

  tell(candidates: readonly ArrayLike<number>[], fitness: readonly number[]): void {
    checkTold(this.pending, candidates, fitness, 'ga');
    const order = rankDescending(fitness);
    const top = order[0]!;
    this.bestPoint = updateBest(this.bestPoint, this.pending!, fitness, top, this.gen);
    this.parents = this.pending;
    this.parentFitness = [...fitness];
    this.pending = null;
    this.gen++;
    this.evals += fitness.length;
  }

  best(): BestPoint | null {
    return copyBest(this.bestPoint);
  }

  shouldStop(): boolean {
    return false;
  }

  state(): OptimizerStateJson {
    return {
      kind: STATE_KIND,
      version: 1,
      options: {
        x0: Array.from(this.x0),
        sigma0: this.sigma0,
        populationSize: this.populationSize,
        lower: boundsToJson(this.lower),
        upper: boundsToJson(this.upper),
        seed: this.seed,
        elite: this.elite,
        tournament: this.tournament,
        alpha: this.alpha,
        mutationRate: this.mutationRate,
      },
      rng: this.rng.state(),
      generation: this.gen,
      evaluations: this.evals,
      parents: this.parents ? this.parents.map((x) => Array.from(x)) : null,
      parentFitness: this.parentFitness ? this.parentFitness.map(fitnessToJson) : null,
      pending: this.pending ? this.pending.map((x) => Array.from(x)) : null,
      best: bestToJson(this.bestPoint),
    };
  }

  static fromState(state: OptimizerStateJson): GeneticAlgorithm {
    if (state?.kind !== STATE_KIND || state.version !== 1) throw new Error(`ga state: expected kind "ga" version 1, got ${state?.kind} ${state?.version}`);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const s = state as any;
    const o = s.options;
    const lower = boundsFromJson(o.lower, -Infinity);
    const upper = boundsFromJson(o.upper, Infinity);
    const ga = new GeneticAlgorithm({
      x0: o.x0,
      sigma0: o.sigma0,
      populationSize: o.populationSize,
      bounds: { lower: Array.from(lower), upper: Array.from(upper) },
      seed: o.seed,
      elite: o.elite,
      tournament: o.tournament,
      alpha: o.alpha,
      mutationRate: o.mutationRate,
    });
    ga.rng = Rng.fromState(s.rng as RngState);
    ga.gen = s.generation;
    ga.evals = s.evaluations;
    ga.parents = s.parents ? s.parents.map((x: number[]) => Float64Array.from(x)) : null;
    ga.parentFitness = s.parentFitness ? s.parentFitness.map(fitnessFromJson) : null;
    ga.pending = s.pending ? s.pending.map((x: number[]) => Float64Array.from(x)) : null;
    ga.bestPoint = bestFromJson(s.best);
    return ga;
  }
}
