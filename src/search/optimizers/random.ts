/**
 * Random search behind the optimiser interface (the floor any optimiser must beat). Default
 * `distribution: 'gaussian'`: every candidate is x0 + σ0·N(0, I) clipped to the bounds, i.e. the same first
 * generation as CMA-ES but without any adaptation, which isolates what CMA-ES's learning adds.
 * `distribution: 'uniform'`: uniform in the box (every bound must be finite).
 * The first candidate of generation 0 is x0 itself. Fitness is maximised.
 */
import { optionsFromJson, Sampler } from './sampler.ts';
import type { OptimizerOptions, OptimizerStateJson } from './types.ts';

export interface RandomSearchOptions extends OptimizerOptions {
  distribution?: 'gaussian' | 'uniform';
}

export class RandomSearch extends Sampler {
  readonly kind = 'random';
  private readonly distribution: 'gaussian' | 'uniform';

  constructor(options: RandomSearchOptions) {
    super(options);
    this.distribution = options.distribution ?? 'gaussian';
    if (this.distribution === 'uniform' && !(this.lower.every(Number.isFinite) && this.upper.every(Number.isFinite))) {
      throw new Error('random: distribution "uniform" needs finite bounds');
    }
  }

  protected sample(): Float64Array[] {
    const n = this.dimension;
    const boxed = this.distribution === 'uniform';
    const out: Float64Array[] = [];
    if (this.generation === 0) out.push(Float64Array.from(this.x0));
    while (out.length < this.populationSize) {
      const x = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        x[i] = boxed
          ? this.lower[i] + this.rng.uniform() * (this.upper[i] - this.lower[i])
          : Math.min(this.upper[i], Math.max(this.lower[i], this.x0[i] + this.sigma0 * this.rng.normal()));
      }
      out.push(x);
    }
    return out;
  }

  /** Random search learns nothing. */
  protected learn(): void {}

  protected extraOptions() {
    return { distribution: this.distribution };
  }
  protected extraState() {
    return {};
  }
  protected restoreExtra(): void {}

  static fromState(state: OptimizerStateJson): RandomSearch {
    return Sampler.restore(
      state,
      'random',
      (o) => new RandomSearch({ ...optionsFromJson(o), distribution: o.distribution as RandomSearchOptions['distribution'] }),
    );
  }
}
