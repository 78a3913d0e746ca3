/**
 * (μ/μ_w, λ)-CMA-ES, following N. Hansen, "The CMA Evolution Strategy: A Tutorial" (arXiv:1604.00772),
 * Appendix A / Table 1 with positive recombination weights only (the classic variant):
 *   w'_i = ln((λ+1)/2) − ln i, i = 1..μ, μ = ⌊λ/2⌋, normalised to Σw = 1;  μ_eff = 1 / Σ w_i²
 *   c_σ = (μ_eff+2)/(n+μ_eff+5)                       d_σ = 1 + 2 max(0, √((μ_eff−1)/(n+1)) − 1) + c_σ
 *   c_c = (4+μ_eff/n)/(n+4+2μ_eff/n)                  c_1 = 2/((n+1.3)² + μ_eff)
 *   c_μ = min(1−c_1, 2(μ_eff−2+1/μ_eff)/((n+2)² + μ_eff))
 *   E‖N(0,I)‖ ≈ √n (1 − 1/(4n) + 1/(21n²))
 * Sampling x_k = m + σ B D z_k. Fitness is MAXIMISED (ranked best-first).
 *
 * Bounds: resampling. A candidate outside the box is drawn again (whole vector, up to `maxResample` times);
 * if it still violates, it is clipped to the box. The optimiser then learns from the point that is actually
 * evaluated (y = (x − m)/σ of the clipped point), so what is told is always what was asked: no penalty whose
 * scale would have to match the fitness scale. Chosen because EvolKV's box ([min, max] budget / c) is wide
 * compared with σ0 = 0.3, so resampling is rare and the sampling distribution stays nearly Gaussian.
 *
 * Restarts (IPOP, Auger & Hansen 2005): optional. When `restarts` > 0 and the run stalls (shouldStop),
 * the next ask() starts a fresh run from x0 with σ0 and twice the population.
 */
import { jacobiEigen } from './jacobi.ts';
import { type OptionsJson, optionsFromJson, Sampler, vectorsFromJson } from './sampler.ts';
import type { OptimizerOptions, OptimizerStateJson } from './types.ts';

export interface CmaesOptions extends OptimizerOptions, CmaesOwnOptions {}

interface CmaesOwnOptions {
  /** Redraws of an out-of-bounds candidate before clipping it. Default 20. */
  maxResample?: number;
  /** IPOP restarts allowed (each doubles λ). Default 0. */
  restarts?: number;
  /** Stop when σ·max(√diag C) and ‖p_c‖σ fall below this. Default 1e-12. */
  tolX?: number;
  /** Stop when the best fitness over the last 10+⌈30n/λ⌉ generations and the current generation span less than this. Default 1e-12. */
  tolFun?: number;
}

/** Strategy constants derived from n and λ (Hansen's tutorial, Table 1). */
export interface CmaesConstants {
  mu: number;
  weights: number[];
  muEff: number;
  cSigma: number;
  dSigma: number;
  cc: number;
  c1: number;
  cMu: number;
  chiN: number;
}

export function cmaesConstants(n: number, lambda: number): CmaesConstants {
  const mu = Math.floor(lambda / 2);
  const raw: number[] = [];
  for (let i = 1; i <= mu; i++) raw.push(Math.log((lambda + 1) / 2) - Math.log(i));
  const sum = raw.reduce((a, b) => a + b, 0);
  const weights = raw.map((w) => w / sum);
  const muEff = 1 / weights.reduce((a, w) => a + w * w, 0);
  const cSigma = (muEff + 2) / (n + muEff + 5);
  const dSigma = 1 + 2 * Math.max(0, Math.sqrt((muEff - 1) / (n + 1)) - 1) + cSigma;
  const cc = (4 + muEff / n) / (n + 4 + (2 * muEff) / n);
  const c1 = 2 / ((n + 1.3) ** 2 + muEff);
  const cMu = Math.min(1 - c1, (2 * (muEff - 2 + 1 / muEff)) / ((n + 2) ** 2 + muEff));
  const chiN = Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
  return { mu, weights, muEff, cSigma, dSigma, cc, c1, cMu, chiN };
}

interface CmaesRunState {
  lambda: number;
  mean: Float64Array; // [n]
  sigma: number;
  C: Float64Array; // [n, n] row-major
  B: Float64Array; // [n, n] eigenvectors (columns)
  D: Float64Array; // [n] √eigenvalues
  pSigma: Float64Array; // [n]
  pc: Float64Array; // [n]
  /** Generations in this run (for h_σ's bias correction and the eigen schedule). */
  runGeneration: number;
  eigenGeneration: number;
  /** Best fitness of each recent generation (for tolFun). */
  history: number[];
}

/** The run's state as JSON (history's −Infinity, a NaN generation, stored as null). */
interface CmaesRunJson {
  lambda: number;
  mean: number[];
  sigma: number;
  C: number[];
  B: number[];
  D: number[];
  pSigma: number[];
  pc: number[];
  runGeneration: number;
  eigenGeneration: number;
  history: (number | null)[];
}

export class Cmaes extends Sampler {
  readonly kind = 'cmaes';
  private readonly maxResample: number;
  private readonly restartsAllowed: number;
  private readonly tolX: number;
  private readonly tolFun: number;
  private run: CmaesRunState;
  private restartsDone = 0;
  /** (x − m)/σ of each pending candidate (what the update learns from; differs from the draw when clipped). */
  private pendingY: Float64Array[] | null = null;

  constructor(options: CmaesOptions) {
    super(options);
    this.maxResample = options.maxResample ?? 20;
    this.restartsAllowed = options.restarts ?? 0;
    this.tolX = options.tolX ?? 1e-12;
    this.tolFun = options.tolFun ?? 1e-12;
    this.run = this.freshRun(this.lambda0);
  }

  override get populationSize(): number {
    return this.run.lambda;
  }
  /** Current step size σ and mean (for reports and tests). */
  get sigma(): number {
    return this.run.sigma;
  }
  get mean(): Float64Array {
    return Float64Array.from(this.run.mean);
  }
  get restarts(): number {
    return this.restartsDone;
  }

  private freshRun(lambda: number): CmaesRunState {
    const n = this.dimension;
    const C = new Float64Array(n * n);
    const B = new Float64Array(n * n);
    for (let i = 0; i < n; i++) C[i * n + i] = B[i * n + i] = 1;
    return {
      lambda,
      mean: Float64Array.from(this.x0),
      sigma: this.sigma0,
      C,
      B,
      D: new Float64Array(n).fill(1),
      pSigma: new Float64Array(n),
      pc: new Float64Array(n),
      runGeneration: 0,
      eigenGeneration: 0,
      history: [],
    };
  }

  private inBounds(x: Float64Array): boolean {
    for (let i = 0; i < x.length; i++) if (x[i] < this.lower[i] || x[i] > this.upper[i]) return false;
    return true;
  }

  protected sample(): Float64Array[] {
    if (this.restartsDone < this.restartsAllowed && this.runStalled()) {
      this.restartsDone++;
      this.run = this.freshRun(this.run.lambda * 2);
    }
    const n = this.dimension;
    const { mean, sigma, B, D, lambda } = this.run;
    const xs: Float64Array[] = [];
    const ys: Float64Array[] = [];
    const z = new Float64Array(n);
    const y = new Float64Array(n);
    for (let k = 0; k < lambda; k++) {
      const x = new Float64Array(n);
      for (let attempt = 0; ; attempt++) {
        for (let i = 0; i < n; i++) z[i] = D[i] * this.rng.normal();
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let j = 0; j < n; j++) s += B[i * n + j] * z[j];
          y[i] = s;
          x[i] = mean[i] + sigma * s;
        }
        if (this.inBounds(x) || attempt >= this.maxResample) break;
      }
      const yk = new Float64Array(n);
      if (this.inBounds(x)) {
        yk.set(y);
      } else {
        this.clip(x);
        for (let i = 0; i < n; i++) yk[i] = (x[i] - mean[i]) / sigma;
      }
      xs.push(x);
      ys.push(yk);
    }
    this.pendingY = ys;
    return xs;
  }

  protected learn(_xs: Float64Array[], fitness: readonly number[], order: number[]): void {
    const n = this.dimension;
    const r = this.run;
    const { mu, weights, muEff, cSigma, dSigma, cc, c1, cMu, chiN } = cmaesConstants(n, r.lambda);
    const ys = this.pendingY as Float64Array[];
    const top = order[0];

    // y_w = Σ w_i y_{i:λ};  m ← m + σ y_w
    const yw = new Float64Array(n);
    for (let i = 0; i < mu; i++) {
      const yi = ys[order[i]];
      for (let j = 0; j < n; j++) yw[j] += weights[i] * yi[j];
    }
    for (let j = 0; j < n; j++) r.mean[j] += r.sigma * yw[j];

    // C^{-1/2} y_w = B D^{-1} Bᵀ y_w
    const tmp = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += r.B[i * n + j] * yw[i];
      tmp[j] = s / r.D[j];
    }
    const invSqrtCyw = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += r.B[i * n + j] * tmp[j];
      invSqrtCyw[i] = s;
    }

    // p_σ ← (1−c_σ) p_σ + √(c_σ(2−c_σ)μ_eff) C^{-1/2} y_w
    const csn = Math.sqrt(cSigma * (2 - cSigma) * muEff);
    let normPs = 0;
    for (let i = 0; i < n; i++) {
      r.pSigma[i] = (1 - cSigma) * r.pSigma[i] + csn * invSqrtCyw[i];
      normPs += r.pSigma[i] * r.pSigma[i];
    }
    normPs = Math.sqrt(normPs);

    // h_σ = 1 if ‖p_σ‖/√(1−(1−c_σ)^{2(g+1)}) < (1.4 + 2/(n+1)) E‖N(0,I)‖
    const g1 = r.runGeneration + 1;
    const hSigma = normPs / Math.sqrt(1 - (1 - cSigma) ** (2 * g1)) < (1.4 + 2 / (n + 1)) * chiN ? 1 : 0;

    // p_c ← (1−c_c) p_c + h_σ √(c_c(2−c_c)μ_eff) y_w
    const ccn = Math.sqrt(cc * (2 - cc) * muEff);
    for (let i = 0; i < n; i++) r.pc[i] = (1 - cc) * r.pc[i] + hSigma * ccn * yw[i];

    // C ← (1 − c_1 − c_μ + (1−h_σ) c_1 c_c(2−c_c)) C + c_1 p_c p_cᵀ + c_μ Σ w_i y_i y_iᵀ
    const decay = 1 - c1 - cMu + (1 - hSigma) * c1 * cc * (2 - cc);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let rankMu = 0;
        for (let k = 0; k < mu; k++) {
          const yk = ys[order[k]];
          rankMu += weights[k] * yk[i] * yk[j];
        }
        const v = decay * r.C[i * n + j] + c1 * r.pc[i] * r.pc[j] + cMu * rankMu;
        r.C[i * n + j] = v;
        r.C[j * n + i] = v;
      }
    }

    // σ ← σ exp((c_σ/d_σ)(‖p_σ‖/E‖N‖ − 1))
    r.sigma *= Math.exp((cSigma / dSigma) * (normPs / chiN - 1));

    r.runGeneration++;
    // eigendecomposition every max(1, ⌊1/(10 n (c_1+c_μ))⌋) generations (tutorial's lazy update, O(n²) amortised)
    const every = Math.max(1, Math.floor(1 / (10 * n * (c1 + cMu))));
    if (r.runGeneration - r.eigenGeneration >= every) this.updateEigen();

    const bestNow = Number.isNaN(fitness[top]) ? -Infinity : fitness[top];
    r.history.push(bestNow);
    const keep = 10 + Math.ceil((30 * n) / r.lambda);
    if (r.history.length > keep) r.history.splice(0, r.history.length - keep);

    this.pendingY = null;
  }

  private updateEigen(): void {
    const n = this.dimension;
    const r = this.run;
    const { values, vectors } = jacobiEigen(r.C, n);
    for (let i = 0; i < n; i++) r.D[i] = Math.sqrt(Math.max(values[i], 1e-300));
    r.B.set(vectors);
    r.eigenGeneration = r.runGeneration;
  }

  private runStalled(): boolean {
    const n = this.dimension;
    const r = this.run;
    if (r.runGeneration === 0) return false;
    let maxSd = 0;
    for (let i = 0; i < n; i++) maxSd = Math.max(maxSd, Math.sqrt(r.C[i * n + i]));
    let maxPc = 0;
    for (let i = 0; i < n; i++) maxPc = Math.max(maxPc, Math.abs(r.pc[i]));
    if (r.sigma * maxSd < this.tolX && r.sigma * maxPc < this.tolX) return true;
    const maxD = Math.max(...r.D);
    const minD = Math.min(...r.D);
    if ((maxD / minD) ** 2 > 1e14) return true; // condition number of C
    const keep = 10 + Math.ceil((30 * n) / r.lambda);
    if (r.history.length >= keep) {
      const finite = r.history.filter(Number.isFinite);
      if (finite.length === r.history.length && Math.max(...finite) - Math.min(...finite) < this.tolFun) return true;
    }
    return false;
  }

  /** True when the current run stalled and no restart is left. */
  override shouldStop(): boolean {
    return this.runStalled() && this.restartsDone >= this.restartsAllowed;
  }

  protected extraOptions() {
    return { maxResample: this.maxResample, restarts: this.restartsAllowed, tolX: this.tolX, tolFun: this.tolFun };
  }

  protected extraState() {
    const r = this.run;
    const run: CmaesRunJson = {
      lambda: r.lambda,
      mean: Array.from(r.mean),
      sigma: r.sigma,
      C: Array.from(r.C),
      B: Array.from(r.B),
      D: Array.from(r.D),
      pSigma: Array.from(r.pSigma),
      pc: Array.from(r.pc),
      runGeneration: r.runGeneration,
      eigenGeneration: r.eigenGeneration,
      history: r.history.map((f) => (Number.isFinite(f) ? f : null)),
    };
    return { run, restartsDone: this.restartsDone, pendingY: this.pendingY ? this.pendingY.map((y) => Array.from(y)) : null };
  }

  protected restoreExtra(s: { run: CmaesRunJson; restartsDone: number; pendingY: number[][] | null }): void {
    const r = s.run;
    this.run = {
      lambda: r.lambda,
      mean: Float64Array.from(r.mean),
      sigma: r.sigma,
      C: Float64Array.from(r.C),
      B: Float64Array.from(r.B),
      D: Float64Array.from(r.D),
      pSigma: Float64Array.from(r.pSigma),
      pc: Float64Array.from(r.pc),
      runGeneration: r.runGeneration,
      eigenGeneration: r.eigenGeneration,
      history: r.history.map((f) => (f === null ? -Infinity : f)),
    };
    this.restartsDone = s.restartsDone;
    this.pendingY = vectorsFromJson(s.pendingY);
  }

  static fromState(state: OptimizerStateJson): Cmaes {
    return Sampler.restore(state, 'cmaes', (o) => {
      const own = o as OptionsJson & CmaesOwnOptions;
      return new Cmaes({ ...optionsFromJson(o), maxResample: own.maxResample, restarts: own.restarts, tolX: own.tolX, tolFun: own.tolFun });
    });
  }
}
