/**
 * EvolKV (Yu & Chai, arXiv 2509.08315; algorithms.md §1) as a resumable ask/tell state machine.
 *
 * Algorithm 1 as the reproduction (sravanthkod/KVCache-Factory, run_evolkv_reproduction.py) reads it:
 *  - every layer starts at the target c; G* = uniform c, F_best = −∞;
 *  - layers split into J = ⌈L/n_g⌉ contiguous groups (n_g = 8 by default), optimised bottom-up;
 *  - per group a FRESH optimiser (CMA-ES by default) over that group's own per-layer variables x = k/c,
 *    x0 = the group's values in G* (i.e. 1 for groups not reached), σ0 = 0.3, λ = 4 + ⌊3 ln n_g⌋,
 *    box [minBudget/c, maxBudget/c]; seed of group j derived from (seed, j);
 *  - a candidate's profile = G* with the group's layers replaced by round(x·c) clipped to [min, max];
 *  - fitness = f(S)·(1 + λ·CacheScore(k̄, c)) with k̄ the mean of the CURRENT GROUP's budgets ("Alg. 1 line 11:
 *    CacheScore(S_g, c)"); `cacheScoreScope: 'all'` uses all L layers instead;
 *  - the global best (G*, F_best) is kept across the whole run, never reset per group;
 *  - after the last group, G* is completed to the exact target (largest remainder, completeBudget()).
 *
 * One deliberate difference: the reproduction updates G* candidate by candidate inside a generation; here a
 * generation is evaluated as a batch (the engine decodes its candidates together), and G* is updated at tell().
 * Within a group every candidate shares the layers outside the group, so the profiles asked are the same;
 * only the order in which equal-fitness candidates win differs (here: the lower candidate index wins ties).
 *
 * Fitness is maximised. A NaN task score (failed evaluation) gives NaN fitness: ranked last, never best.
 * Layers outside the group that were never optimised sit at round(c) (profiles handed to the engine are integers).
 * Rounding is JS Math.round (halves up); the reproduction's np.round rounds halves to even.
 *
 * How the engine drives it (pure: no I/O, no clock; everything needed to resume is in state()):
 *   const search = resume ? EvolKvSearch.fromState(JSON.parse(stored)) : new EvolKvSearch(opts);
 *   while (!search.done()) {
 *     const cands = search.ask();                       // same list again if asked twice (e.g. after a crash)
 *     const f = await evaluate(cands.map((c) => c.profile)); // one aggregated task score f(S) per candidate
 *     const { evaluations, generationBest } = search.tell(f); // fitness parts per candidate, to store
 *     store(JSON.stringify(search.state()));            // after every generation
 *   }
 *   const { best, completedProfile } = search.result(); // completed to mean c exactly
 */
import { KvoptError } from '../util/errors.ts';
import { completeBudget, DEFAULT_GAMMA, DEFAULT_LAMBDA, evolkvFitness, mean, type FitnessParts } from './budget.ts';
import {
  createOptimizer,
  defaultPopulationSize,
  OPTIMIZER_KINDS,
  optimizerFromState,
  type Optimizer,
  type OptimizerKind,
  type OptimizerStateJson,
} from './optimizers/index.ts';
import { deriveSeed } from './rng.ts';

export interface EvolKvOptions {
  /** Number of layers L. */
  layers: number;
  /** Target mean per-layer budget c (tokens per KV head per layer, window included). */
  target: number;
  /** Smallest per-layer budget (e.g. the observation window, so the window always fits). */
  minBudget: number;
  /** Largest per-layer budget (e.g. the context length). Default: no upper bound. */
  maxBudget?: number;
  /** n_g. Default 8. */
  groupSize?: number;
  /** Default 0.3 (in x = k/c units: ±30 % around the start). */
  sigma0?: number;
  /** Candidates per generation; 'auto' = 4 + ⌊3 ln n_g⌋ (per group, so a smaller last group gets fewer). */
  population?: number | 'auto';
  /** Optimiser generations per group (the paper's M; the reproduction used 15). Default 15. */
  generations?: number;
  /** λ of Eq. 1. Default 0.3. */
  lambda?: number;
  /** γ of Eq. 2. Default 0.2. */
  gamma?: number;
  seed?: number;
  optimizer?: OptimizerKind;
  /** CMA-ES only: IPOP restarts allowed within a group when it stalls (each doubles λ). Default 0. */
  restarts?: number;
  /** Mean the CacheScore is computed on. Default 'group' (the reproduction's reading of Alg. 1). */
  cacheScoreScope?: 'group' | 'all';
}

export type ResolvedEvolKvOptions = Required<Omit<EvolKvOptions, 'maxBudget' | 'population'>> & {
  maxBudget: number | null;
  population: number | 'auto';
};

export interface EvolKvCandidate {
  /** Position in this generation (tell() takes scores in this order). */
  index: number;
  group: number;
  /** Generation within the group (0-based). */
  generation: number;
  /** Generation counted over the whole search (0-based). */
  globalGeneration: number;
  /** The optimiser's coordinates for the group's layers (x = k/c), exactly as asked. */
  x: number[];
  /** Full per-layer integer budgets, length L: what the engine evaluates. */
  profile: number[];
  /** First and one-past-last layer of the group. */
  layerRange: [number, number];
}

export interface EvolKvEvaluation extends FitnessParts {
  index: number;
  profile: number[];
}

export interface EvolKvBest extends FitnessParts {
  profile: number[];
  group: number;
  generation: number;
  globalGeneration: number;
}

export interface EvolKvTellResult {
  evaluations: EvolKvEvaluation[];
  /** Index of this generation's best candidate (for held-out scoring), or -1 if all failed. */
  generationBest: number;
  /** True when this generation produced a new global best. */
  improved: boolean;
}

export interface EvolKvResult {
  /** Global best as searched (its mean need not be c). */
  best: EvolKvBest | null;
  /** The global best completed to the exact target (uniform c when nothing was evaluated). */
  completedProfile: number[];
  target: number;
}

export interface EvolKvState {
  format: 'kvopt-evolkv-state/1';
  options: ResolvedEvolKvOptions;
  group: number;
  generationInGroup: number;
  globalGeneration: number;
  evaluations: number;
  /** G* at the start of the current group (the layers outside the group). */
  base: number[];
  best: (Omit<EvolKvBest, 'fitness' | 'taskScore'> & { fitness: number; taskScore: number }) | null;
  optimizer: OptimizerStateJson | null;
}

/** EvolKV's defaults (algorithms.md §1); the experiment file's defaults are these too. */
export const EVOLKV_DEFAULTS = {
  groupSize: 8,
  sigma0: 0.3,
  generations: 15, // the reproduction's M; the paper gives none
  lambda: DEFAULT_LAMBDA,
  gamma: DEFAULT_GAMMA,
  optimizer: 'cmaes' as OptimizerKind,
  restarts: 0,
};

export function resolveEvolKvOptions(o: EvolKvOptions): ResolvedEvolKvOptions {
  const D = EVOLKV_DEFAULTS;
  const r: ResolvedEvolKvOptions = {
    layers: o.layers,
    target: o.target,
    minBudget: o.minBudget,
    maxBudget: o.maxBudget ?? null,
    groupSize: o.groupSize ?? D.groupSize,
    sigma0: o.sigma0 ?? D.sigma0,
    population: o.population ?? 'auto',
    generations: o.generations ?? D.generations,
    lambda: o.lambda ?? D.lambda,
    gamma: o.gamma ?? D.gamma,
    seed: o.seed ?? 0,
    optimizer: o.optimizer ?? D.optimizer,
    restarts: o.restarts ?? D.restarts,
    cacheScoreScope: o.cacheScoreScope ?? 'group',
  };
  const bad = (field: string, want: string, got: unknown) => new KvoptError(`search.${field}: expected ${want}, got ${JSON.stringify(got)}`);
  if (!Number.isInteger(r.layers) || r.layers < 1) throw bad('layers', 'an integer >= 1', r.layers);
  if (!(r.target > 0) || !Number.isFinite(r.target)) throw bad('budget', 'a number > 0', r.target);
  if (!Number.isInteger(r.minBudget) || r.minBudget < 0) throw bad('min_budget', 'an integer >= 0', r.minBudget);
  if (r.maxBudget !== null && (!Number.isInteger(r.maxBudget) || r.maxBudget < r.minBudget))
    throw bad('max_budget', `an integer >= min_budget (${r.minBudget})`, r.maxBudget);
  if (r.target < r.minBudget || (r.maxBudget !== null && r.target > r.maxBudget))
    throw bad('budget', `a target within [${r.minBudget}, ${r.maxBudget ?? '∞'}]`, r.target);
  if (!Number.isInteger(r.groupSize) || r.groupSize < 1) throw bad('group_size', 'an integer >= 1', r.groupSize);
  if (!(r.sigma0 > 0)) throw bad('sigma0', 'a number > 0', r.sigma0);
  if (r.population !== 'auto' && (!Number.isInteger(r.population) || r.population < 2)) throw bad('population', "'auto' or an integer >= 2", r.population);
  if (!Number.isInteger(r.generations) || r.generations < 1) throw bad('generations', 'an integer >= 1', r.generations);
  if (!(r.lambda >= 0)) throw bad('lambda', 'a number >= 0', r.lambda);
  if (!(r.gamma >= 0)) throw bad('gamma', 'a number >= 0', r.gamma);
  if (!Number.isInteger(r.seed)) throw bad('seed', 'an integer', r.seed);
  if (!Number.isInteger(r.restarts) || r.restarts < 0) throw bad('restarts', 'an integer >= 0', r.restarts);
  if (!OPTIMIZER_KINDS.includes(r.optimizer)) throw bad('optimizer', 'cmaes | ga | random', r.optimizer);
  if (r.cacheScoreScope !== 'group' && r.cacheScoreScope !== 'all') throw bad('cache_score_scope', 'group | all', r.cacheScoreScope);
  if (!Number.isInteger(Math.round(r.target * r.layers)) || Math.abs(r.target * r.layers - Math.round(r.target * r.layers)) > 1e-9 * r.target * r.layers) {
    throw bad('budget', `a target whose total over ${r.layers} layers is an integer number of tokens`, r.target);
  }
  return r;
}

export class EvolKvSearch {
  private readonly o: ResolvedEvolKvOptions;
  private group = 0;
  private generationInGroup = 0;
  private globalGeneration = 0;
  private evaluations = 0;
  private base: number[];
  private bestEntry: EvolKvBest | null = null;
  private optimizer: Optimizer | null = null;

  constructor(options: EvolKvOptions) {
    this.o = resolveEvolKvOptions(options);
    this.base = new Array(this.o.layers).fill(Math.round(this.o.target));
    this.optimizer = this.makeOptimizer();
  }

  get options(): ResolvedEvolKvOptions {
    return { ...this.o };
  }

  get groupCount(): number {
    return Math.ceil(this.o.layers / this.o.groupSize);
  }

  /** Layer range [start, end) of group j. */
  groupRange(j: number): [number, number] {
    return [j * this.o.groupSize, Math.min(this.o.layers, (j + 1) * this.o.groupSize)];
  }

  /** Generations over the whole search (J·M) and how many are done. */
  progress(): {
    group: number;
    groupCount: number;
    generationInGroup: number;
    generationsPerGroup: number;
    globalGeneration: number;
    totalGenerations: number;
    evaluations: number;
  } {
    return {
      group: this.group,
      groupCount: this.groupCount,
      generationInGroup: this.generationInGroup,
      generationsPerGroup: this.o.generations,
      globalGeneration: this.globalGeneration,
      totalGenerations: this.groupCount * this.o.generations,
      evaluations: this.evaluations,
    };
  }

  done(): boolean {
    return this.group >= this.groupCount;
  }

  private clipBudget(v: number): number {
    const hi = this.o.maxBudget ?? Infinity;
    return Math.min(hi, Math.max(this.o.minBudget, v));
  }

  private makeOptimizer(): Optimizer | null {
    if (this.done()) return null;
    const [start, end] = this.groupRange(this.group);
    const n = end - start;
    const c = this.o.target;
    const x0 = this.base.slice(start, end).map((k) => k / c);
    const upper = this.o.maxBudget === null ? Infinity : this.o.maxBudget / c;
    return createOptimizer(this.o.optimizer, {
      x0,
      sigma0: this.o.sigma0,
      populationSize: this.o.population === 'auto' ? defaultPopulationSize(n) : this.o.population,
      bounds: { lower: new Array(n).fill(this.o.minBudget / c), upper: new Array(n).fill(upper) },
      seed: deriveSeed(this.o.seed, this.group),
      restarts: this.o.restarts,
    });
  }

  /** The candidates of the current generation. Idempotent until tell(). */
  ask(): EvolKvCandidate[] {
    if (this.done() || !this.optimizer) throw new Error('evolkv: the search is finished; call result()');
    const [start, end] = this.groupRange(this.group);
    const c = this.o.target;
    return this.optimizer.ask().map((x, index) => {
      const profile = [...this.base];
      for (let i = start; i < end; i++) profile[i] = this.clipBudget(Math.round(x[i - start] * c));
      return {
        index,
        group: this.group,
        generation: this.generationInGroup,
        globalGeneration: this.globalGeneration,
        x: Array.from(x),
        profile,
        layerRange: [start, end] as [number, number],
      };
    });
  }

  /** Fitness parts of one profile under this search's settings (for the engine to score e.g. the completed best). */
  fitnessOf(profile: readonly number[], taskScore: number, scope: 'group' | 'all' = this.o.cacheScoreScope): FitnessParts {
    const [start, end] = this.done() ? [0, this.o.layers] : this.groupRange(this.group);
    const meanBudget = scope === 'group' ? mean(profile.slice(start, end)) : mean(profile);
    return evolkvFitness(taskScore, meanBudget, this.o.target, this.o.lambda, this.o.gamma);
  }

  /** Task scores f(S) of the asked candidates, in ask() order. Advances the search by one generation. */
  tell(taskScores: readonly number[]): EvolKvTellResult {
    const candidates = this.ask();
    if (taskScores.length !== candidates.length) throw new Error(`evolkv: tell() needs ${candidates.length} task scores, got ${taskScores.length}`);
    const evaluations: EvolKvEvaluation[] = candidates.map((cand, i) => {
      const f = taskScores[i];
      if (typeof f !== 'number' || f === Infinity || f === -Infinity) throw new Error(`evolkv: task score ${i} must be finite or NaN, got ${f}`);
      return { index: i, profile: cand.profile, ...this.fitnessOf(cand.profile, f) };
    });
    this.optimizer!.tell(
      candidates.map((c) => c.x),
      evaluations.map((e) => e.fitness),
    );
    let generationBest = -1;
    for (const e of evaluations) {
      if (Number.isNaN(e.fitness)) continue;
      if (generationBest < 0 || e.fitness > evaluations[generationBest].fitness) generationBest = e.index;
    }
    let improved = false;
    if (generationBest >= 0) {
      const e = evaluations[generationBest];
      if (this.bestEntry === null || e.fitness > this.bestEntry.fitness) {
        this.bestEntry = {
          profile: [...e.profile],
          taskScore: e.taskScore,
          meanBudget: e.meanBudget,
          cacheScore: e.cacheScore,
          fitness: e.fitness,
          group: this.group,
          generation: this.generationInGroup,
          globalGeneration: this.globalGeneration,
        };
        improved = true;
      }
    }
    this.evaluations += candidates.length;
    this.globalGeneration++;
    this.generationInGroup++;
    if (this.generationInGroup >= this.o.generations) {
      // freeze: the next group starts from G*
      if (this.bestEntry) this.base = [...this.bestEntry.profile];
      this.group++;
      this.generationInGroup = 0;
      this.optimizer = this.makeOptimizer();
    }
    return { evaluations, generationBest, improved };
  }

  best(): EvolKvBest | null {
    return this.bestEntry ? { ...this.bestEntry, profile: [...this.bestEntry.profile] } : null;
  }

  /** The global best and its completion to the exact target (callable any time; final once done()). */
  result(): EvolKvResult {
    const source = this.bestEntry ? this.bestEntry.profile : new Array(this.o.layers).fill(this.o.target);
    const completedProfile = completeBudget(source, this.o.target, {
      minBudget: this.o.minBudget,
      maxBudget: this.o.maxBudget ?? undefined,
    });
    return { best: this.best(), completedProfile, target: this.o.target };
  }

  state(): EvolKvState {
    return {
      format: 'kvopt-evolkv-state/1',
      options: { ...this.o },
      group: this.group,
      generationInGroup: this.generationInGroup,
      globalGeneration: this.globalGeneration,
      evaluations: this.evaluations,
      base: [...this.base],
      best: this.bestEntry ? { ...this.bestEntry, profile: [...this.bestEntry.profile] } : null,
      optimizer: this.optimizer ? this.optimizer.state() : null,
    };
  }

  static fromState(state: EvolKvState): EvolKvSearch {
    if (state?.format !== 'kvopt-evolkv-state/1') throw new Error(`evolkv state: expected format kvopt-evolkv-state/1, got ${state?.format}`);
    const o = state.options;
    const s = new EvolKvSearch({ ...o, maxBudget: o.maxBudget ?? undefined });
    s.group = state.group;
    s.generationInGroup = state.generationInGroup;
    s.globalGeneration = state.globalGeneration;
    s.evaluations = state.evaluations;
    s.base = [...state.base];
    s.bestEntry = state.best ? { ...state.best, profile: [...state.best.profile] } : null;
    s.optimizer = state.optimizer ? optimizerFromState(state.optimizer) : null;
    return s;
  }
}
