/**
 * CMA-ES checks. Reference evaluation counts (default λ = 4 + ⌊3 ln n⌋ = 10 for n = 10, x0 away from the optimum,
 * target f < 1e-10), as given in the task brief from Hansen's tutorial figures / Hansen & Ostermeier (2001):
 *   sphere n=10: ~1,500-2,500 evaluations; Rosenbrock n=10: ~6,000-10,000.
 * Not re-read in the primary sources here. A secondary source found with the search tool (docs.rs crate
 * evolutionary-planning 0.1.0, src/cmaes/tests.rs) says the tutorial's Figure 4 shows roughly 1,500 evaluations for
 * the 10-D sphere to 1e-10; no page stating the Rosenbrock figure was found. Constants follow the tutorial's Table 1
 * (c_σ = (μ_eff+2)/(n+μ_eff+5); Hansen's cmaes.m 3.60 uses +3 in that denominator). This file
 * measured, over seeds 1-5 (x0 = 1, or 0 for Rosenbrock; σ0 = 0.5): 1,530-1,680 (sphere), 5,690-6,860 (Rosenbrock) and
 * 5,740-6,210 (rotated ellipsoid, condition 1e6).
 * The thresholds below allow that range plus margin.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cmaes, cmaesConstants } from '../../src/search/optimizers/cmaes.ts';
import { jacobiEigen } from '../../src/search/optimizers/jacobi.ts';
import { Rng } from '../../src/search/rng.ts';

type Fn = (x: Float64Array) => number;
const sphere: Fn = (x) => x.reduce((a, v) => a + v * v, 0);
const rosenbrock: Fn = (x) => {
  let s = 0;
  for (let i = 0; i < x.length - 1; i++) s += 100 * (x[i] ** 2 - x[i + 1]) ** 2 + (1 - x[i]) ** 2;
  return s;
};
/** Random orthogonal matrix (Gram-Schmidt of seeded normals), row-major. */
function randomRotation(n: number, seed: number): Float64Array {
  const rng = Rng.fromSeed(seed);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const v = Array.from({ length: n }, () => rng.normal());
    for (let j = 0; j < i; j++) {
      let d = 0;
      for (let k = 0; k < n; k++) d += v[k] * q[j * n + k];
      for (let k = 0; k < n; k++) v[k] -= d * q[j * n + k];
    }
    const norm = Math.hypot(...v);
    for (let k = 0; k < n; k++) q[i * n + k] = v[k] / norm;
  }
  return q;
}
function rotatedEllipsoid(n: number, seed: number): Fn {
  const R = randomRotation(n, seed);
  return (x) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      let y = 0;
      for (let k = 0; k < n; k++) y += R[i * n + k] * x[k];
      s += 1e6 ** (i / (n - 1)) * y * y;
    }
    return s;
  };
}

/** Minimises f (fitness = −f) until f < target; returns evaluations used. */
function minimise(f: Fn, es: Cmaes, target: number, maxEvals: number): { evals: number; best: number } {
  let best = Infinity;
  while (es.evaluations < maxEvals && best >= target) {
    const xs = es.ask();
    const fs = xs.map(f);
    es.tell(
      xs,
      fs.map((v) => -v),
    );
    best = Math.min(best, ...fs);
  }
  return { evals: es.evaluations, best };
}

test('Jacobi eigendecomposition: A v = λ v, V orthonormal, against a 2x2 closed form', () => {
  const n = 6;
  const rng = Rng.fromSeed(1);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rng.normal();
  const { values, vectors } = jacobiEigen(a, n);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let k = 0; k < n; k++) av += a[i * n + k] * vectors[k * n + j];
      assert.ok(Math.abs(av - values[j] * vectors[i * n + j]) < 1e-10);
    }
    for (let j2 = 0; j2 < n; j2++) {
      let d = 0;
      for (let k = 0; k < n; k++) d += vectors[k * n + j] * vectors[k * n + j2];
      assert.ok(Math.abs(d - (j === j2 ? 1 : 0)) < 1e-12);
    }
  }
  for (let j = 1; j < n; j++) assert.ok(values[j] >= values[j - 1]);
  // [[2,1],[1,2]] has eigenvalues 1 and 3
  const e2 = jacobiEigen([2, 1, 1, 2], 2);
  assert.ok(Math.abs(e2.values[0] - 1) < 1e-14 && Math.abs(e2.values[1] - 3) < 1e-14);
});

test('strategy constants for n = 10, λ = 10 match the tutorial formulas computed by hand', () => {
  const k = cmaesConstants(10, 10);
  assert.equal(k.mu, 5);
  // raw weights ln(5.5) − ln i, i = 1..5
  const raw = [1, 2, 3, 4, 5].map((i) => Math.log(5.5 / i));
  const sum = raw.reduce((a, b) => a + b);
  const muEff = sum ** 2 / raw.reduce((a, b) => a + b * b, 0);
  assert.ok(Math.abs(k.muEff - muEff) < 1e-12);
  assert.ok(Math.abs(k.muEff - 3.1672) < 1e-4);
  assert.ok(Math.abs(k.weights.reduce((a, b) => a + b) - 1) < 1e-15);
  assert.ok(Math.abs(k.cSigma - (muEff + 2) / (15 + muEff)) < 1e-15);
  assert.ok(Math.abs(k.c1 - 2 / (11.3 ** 2 + muEff)) < 1e-15);
  assert.ok(Math.abs(k.cMu - (2 * (muEff - 2 + 1 / muEff)) / (144 + muEff)) < 1e-15);
  assert.ok(Math.abs(k.chiN - 3.0847) < 1e-3); // E‖N(0, I_10)‖ ≈ 3.0847
});

test('sphere n = 10 reaches 1e-10 within 2,500 evaluations (λ = 10)', () => {
  const es = new Cmaes({ x0: new Array(10).fill(1), sigma0: 0.5, seed: 1 });
  assert.equal(es.populationSize, 10);
  const r = minimise(sphere, es, 1e-10, 20000);
  assert.ok(r.best < 1e-10 && r.evals <= 2500, `sphere: ${r.evals} evaluations, best ${r.best}`);
  assert.ok(r.evals >= 1000, `suspiciously fast: ${r.evals}`);
});

test('Rosenbrock n = 10 reaches 1e-10 within 10,000 evaluations', () => {
  const es = new Cmaes({ x0: new Array(10).fill(0), sigma0: 0.5, seed: 2 });
  const r = minimise(rosenbrock, es, 1e-10, 30000);
  assert.ok(r.best < 1e-10 && r.evals <= 10000, `rosenbrock: ${r.evals} evaluations, best ${r.best}`);
});

test('rotated ellipsoid (condition 1e6) n = 10 reaches 1e-10 within 10,000 evaluations; n = 5 within 4,000', () => {
  const es10 = new Cmaes({ x0: new Array(10).fill(1), sigma0: 0.5, seed: 3 });
  const r10 = minimise(rotatedEllipsoid(10, 99), es10, 1e-10, 30000);
  assert.ok(r10.best < 1e-10 && r10.evals <= 10000, `ellipsoid n=10: ${r10.evals} evaluations`);
  const es5 = new Cmaes({ x0: new Array(5).fill(1), sigma0: 0.5, seed: 3 });
  const r5 = minimise(rotatedEllipsoid(5, 98), es5, 1e-10, 30000);
  assert.ok(r5.best < 1e-10 && r5.evals <= 4000, `ellipsoid n=5: ${r5.evals} evaluations`);
});

test('same seed: bit-identical runs; other seed: different', () => {
  const trace = (seed: number) => {
    const es = new Cmaes({ x0: [0.5, -0.5, 1, 2, 0], sigma0: 0.3, seed });
    const out: number[] = [];
    for (let g = 0; g < 30; g++) {
      const xs = es.ask();
      es.tell(
        xs,
        xs.map((x) => -rosenbrock(x)),
      );
      out.push(...xs.flatMap((x) => Array.from(x)), es.sigma);
    }
    return out;
  };
  const a = trace(11);
  assert.deepEqual(trace(11), a);
  assert.notDeepEqual(trace(12), a);
});

test('interrupted run (state → JSON → fromState, also between ask and tell) equals the uninterrupted one bit for bit', () => {
  const f = rotatedEllipsoid(6, 5);
  const opts = { x0: [1, 1, 1, 1, 1, 1], sigma0: 0.4, seed: 21, bounds: { lower: new Array(6).fill(-3), upper: new Array(6).fill(3) } };
  const straight = new Cmaes(opts);
  for (let g = 0; g < 400; g++) {
    const xs = straight.ask();
    straight.tell(
      xs,
      xs.map((x) => -f(x)),
    );
  }
  let es = new Cmaes(opts);
  for (let g = 0; g < 400; g++) {
    if (g % 17 === 5) es = Cmaes.fromState(JSON.parse(JSON.stringify(es.state())));
    const xs = es.ask();
    if (g % 23 === 7) {
      // killed after ask (candidates pending): the restored optimiser asks the same candidates again
      es = Cmaes.fromState(JSON.parse(JSON.stringify(es.state())));
      assert.deepEqual(es.ask(), xs);
    }
    es.tell(
      xs,
      xs.map((x) => -f(x)),
    );
  }
  assert.equal(JSON.stringify(es.state()), JSON.stringify(straight.state()));
  assert.ok(straight.best()!.fitness > -1e-6, 'the bounded run also converged');
});

test('bounds: every candidate lies in the box, and an optimum on the boundary is found', () => {
  // minimise Σ (x_i + 1)² over [0, 1]^4: optimum at x = 0 on the lower bound
  const es = new Cmaes({ x0: [0.5, 0.5, 0.5, 0.5], sigma0: 0.3, seed: 4, bounds: { lower: [0, 0, 0, 0], upper: [1, 1, 1, 1] } });
  for (let g = 0; g < 150; g++) {
    const xs = es.ask();
    for (const x of xs) for (const v of x) assert.ok(v >= 0 && v <= 1);
    es.tell(
      xs,
      xs.map((x) => -x.reduce((a, v) => a + (v + 1) ** 2, 0)),
    );
  }
  const b = es.best()!;
  assert.ok(
    b.x.every((v) => v < 1e-3),
    `best ${b.x}`,
  );
});

test('NaN fitness ranks last and never becomes the best', () => {
  const es = new Cmaes({ x0: [0, 0, 0], sigma0: 1, seed: 9 });
  const xs = es.ask();
  es.tell(
    xs,
    xs.map((_, i) => (i === 0 ? NaN : -i)),
  );
  assert.equal(es.best()!.fitness, -1);
  assert.ok(Number.isFinite(es.sigma));
});

test('IPOP restart: a stalled run restarts with twice the population', () => {
  const es = new Cmaes({ x0: [1, 1, 1], sigma0: 0.5, seed: 5, restarts: 1, tolX: 1e-6 });
  const lambda0 = es.populationSize;
  for (let g = 0; g < 400 && es.restarts === 0; g++) {
    const xs = es.ask();
    es.tell(
      xs,
      xs.map((x) => -sphere(x)),
    );
  }
  assert.equal(es.restarts, 1);
  assert.equal(es.populationSize, 2 * lambda0);
  assert.ok(es.best()!.fitness > -1e-10);
});
