/**
 * A plain real-coded genetic algorithm behind the optimiser interface, as a baseline for CMA-ES:
 * - generation 0: x0 itself plus λ−1 points x0 + σ0·N(0, I), clipped to the bounds;
 * - elitism: the `elite` best of the last generation are copied unchanged;
 * - the rest: two parents by tournament selection (size `tournament`, best fitness wins, ties → lower index),
 *   blend crossover BLX-α per coordinate (child uniform in [lo − α·d, hi + α·d], d = hi − lo; Eshelman & Schaffer 1993),
 *   then gaussian mutation of each coordinate with probability `mutationRate` by σ0·N(0,1); clipped to the bounds.
 * Fitness is maximised. Elites are re-evaluated (the engine's fitness may be noisy; the GA does not cache).
 */
import { fitnessFromJson, fitnessToJson, type OptionsJson, optionsFromJson, rankDescending, Sampler, vectorsFromJson } from './sampler.ts';
import type { OptimizerOptions, OptimizerStateJson } from './types.ts';

export interface GaOptions extends OptimizerOptions, GaOwnOptions {}

interface GaOwnOptions {
  /** Individuals copied unchanged into the next generation. Default 1. */
  elite?: number;
  /** Tournament size. Default 2. */
  tournament?: number;
  /** BLX-α. Default 0.5. */
  alpha?: number;
  /** Per-coordinate mutation probability. Default 1/n. */
  mutationRate?: number;
}

export class GeneticAlgorithm extends Sampler {
  readonly kind = 'ga';
  private readonly elite: number;
  private readonly tournament: number;
  private readonly alpha: number;
  private readonly mutationRate: number;
  /** The last evaluated generation and its fitness (parents of the next). */
  private parents: Float64Array[] | null = null;
  private parentFitness: number[] | null = null;

  constructor(options: GaOptions) {
    super(options);
    const lambda = this.populationSize;
    this.elite = options.elite ?? 1;
    this.tournament = options.tournament ?? 2;
    this.alpha = options.alpha ?? 0.5;
    this.mutationRate = options.mutationRate ?? 1 / this.dimension;
    if (!Number.isInteger(this.elite) || this.elite < 0 || this.elite >= lambda) throw new Error(`ga: elite must be an integer in [0, ${lambda - 1}]`);
    if (!Number.isInteger(this.tournament) || this.tournament < 1) throw new Error('ga: tournament must be an integer >= 1');
  }

  /** Tournament selection: the fittest of `tournament` uniform draws (NaN loses; ties → lower index). */
  private select(parents: Float64Array[], fit: number[]): Float64Array {
    const key = (i: number) => (Number.isNaN(fit[i]) ? -Infinity : fit[i]);
    let winner = this.rng.int(fit.length);
    for (let t = 1; t < this.tournament; t++) {
      const c = this.rng.int(fit.length);
      if (key(c) > key(winner) || (key(c) === key(winner) && c < winner)) winner = c;
    }
    return parents[winner];
  }

  protected sample(): Float64Array[] {
    const n = this.dimension;
    const out: Float64Array[] = [];
    const { parents, parentFitness } = this;
    if (!parents || !parentFitness) {
      out.push(Float64Array.from(this.x0));
      while (out.length < this.populationSize) {
        const x = new Float64Array(n);
        for (let i = 0; i < n; i++) x[i] = this.x0[i] + this.sigma0 * this.rng.normal();
        out.push(this.clip(x));
      }
      return out;
    }
    const order = rankDescending(parentFitness);
    for (let e = 0; e < this.elite; e++) out.push(Float64Array.from(parents[order[e]]));
    while (out.length < this.populationSize) {
      const a = this.select(parents, parentFitness);
      const b = this.select(parents, parentFitness);
      const x = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        // BLX-α: uniform in [lo − α·d, hi + α·d]
        const lo = Math.min(a[i], b[i]);
        const hi = Math.max(a[i], b[i]);
        const d = hi - lo;
        x[i] = lo - this.alpha * d + this.rng.uniform() * (1 + 2 * this.alpha) * d;
        if (this.rng.uniform() < this.mutationRate) x[i] += this.sigma0 * this.rng.normal();
      }
      out.push(this.clip(x));
    }
    return out;
  }

  protected learn(xs: Float64Array[], fitness: readonly number[]): void {
    this.parents = xs;
    this.parentFitness = [...fitness];
  }

  protected extraOptions() {
    return { elite: this.elite, tournament: this.tournament, alpha: this.alpha, mutationRate: this.mutationRate };
  }
  protected extraState() {
    return {
      parents: this.parents ? this.parents.map((x) => Array.from(x)) : null,
      parentFitness: this.parentFitness ? this.parentFitness.map(fitnessToJson) : null,
    };
  }
  protected restoreExtra(s: { parents?: number[][] | null; parentFitness?: (number | null)[] | null }): void {
    this.parents = vectorsFromJson(s.parents ?? null);
    this.parentFitness = s.parentFitness ? s.parentFitness.map(fitnessFromJson) : null;
  }

  static fromState(state: OptimizerStateJson): GeneticAlgorithm {
    return Sampler.restore(state, 'ga', (o) => {
      const own = o as OptionsJson & GaOwnOptions;
      return new GeneticAlgorithm({ ...optionsFromJson(o), elite: own.elite, tournament: own.tournament, alpha: own.alpha, mutationRate: own.mutationRate });
    });
  }
}
