/**
 * Random search behind the optimiser interface (the floor any optimiser must beat). Default
 * `distribution: 'gaussian'`: every candidate is x0 + σ0·N(0, I) clipped to the bounds, i.e. the same first
 * generation as CMA-ES but without any adaptation, which isolates what CMA-ES's learning adds.
 * `distribution: 'uniform'`: uniform in the box (every bound must be finite).
 * The first candidate of generation 0 is x0 itself. Fitness is maximised.
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
  rankDescending,
  type BestPoint,
  type Optimizer,
  type OptimizerOptions,
  type OptimizerStateJson,
  updateBest,
} from './types.ts';

const STATE_KIND = 'random';

export interface RandomSearchOptions extends OptimizerOptions {
  distribution?: 'gaussian' | 'uniform';
}

export class RandomSearch implements Optimizer {
  readonly kind = STATE_KIND;
  readonly dimension: number;
  readonly populationSize: number;
  private readonly x0: Float64Array;
  private readonly sigma0: number;
  private readonly lower: Float64Array;
  private readonly upper: Float64Array;
  private readonly seed: number;
  private readonly distribution: 'gaussian' | 'uniform';
  private rng: Rng;
  private gen = 0;
  private evals = 0;
  private pending: Float64Array[] | null = null;
  private bestPoint: BestPoint | null = null;

  constructor(options: RandomSearchOptions) {
    const { n, lambda, lower, upper } = checkOptions(options);
    this.dimension = n;
    this.populationSize = lambda;
    this.x0 = Float64Array.from(options.x0);
    this.sigma0 = options.sigma0;
    this.lower = lower;
    this.upper = upper;
    this.seed = options.seed;
    this.distribution = options.distribution ?? 'gaussian';
    if (this.distribution === 'uniform' && !(lower.every(Number.isFinite) && upper.every(Number.isFinite))) {
      throw new Error('random: distribution "uniform" needs finite bounds');
    }
    this.rng = Rng.fromSeed(options.seed);
  }

  get generation(): number {
    return this.gen;
  }
  get evaluations(): number {
    return this.evals;
  }

  ask(): Float64Array[] {
    if (this.pending) return this.pending.map((x) => Float64Array.from(x));
    const n = this.dimension;
    const boxed = this.distribution === 'uniform';
    const out: Float64Array[] = [];
    if (this.gen === 0) out.push(Float64Array.from(this.x0));
    while (out.length < this.populationSize) {
      const x = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        x[i] = boxed
          ? this.lower[i]! + this.rng.uniform() * (this.upper[i]! - this.lower[i]!)
          : Math.min(this.upper[i]!, Math.max(this.lower[i]!, this.x0[i]! + this.sigma0 * this.rng.normal()));
      }
      out.push(x);
    }
    this.pending = out;
    return out.map((x) => Float64Array.from(x));
  }

  tell(candidates: readonly ArrayLike<number>[], fitness: readonly number[]): void {
    checkTold(this.pending, candidates, fitness, 'random');
    const top = rankDescending(fitness)[0]!;
    this.bestPoint = updateBest(this.bestPoint, this.pending!, fitness, top, this.gen);
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
        distribution: this.distribution,
      },
      rng: this.rng.state(),
      generation: this.gen,
      evaluations: this.evals,
      pending: this.pending ? this.pending.map((x) => Array.from(x)) : null,
      best: bestToJson(this.bestPoint),
    };
  }

  static fromState(state: OptimizerStateJson): RandomSearch {
    if (state?.kind !== STATE_KIND || state.version !== 1) throw new Error(`random state: expected kind "random" version 1, got ${state?.kind} ${state?.version}`);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const s = state as any;
    const o = s.options;
    const rs = new RandomSearch({
      x0: o.x0,
      sigma0: o.sigma0,
      populationSize: o.populationSize,
      bounds: { lower: Array.from(boundsFromJson(o.lower, -Infinity)), upper: Array.from(boundsFromJson(o.upper, Infinity)) },
      seed: o.seed,
      distribution: o.distribution,
    });
    rs.rng = Rng.fromState(s.rng as RngState);
    rs.gen = s.generation;
    rs.evals = s.evaluations;
    rs.pending = s.pending ? s.pending.map((x: number[]) => Float64Array.from(x)) : null;
    rs.bestPoint = bestFromJson(s.best);
    return rs;
  }
}
