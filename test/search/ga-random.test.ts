import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GeneticAlgorithm } from '../../src/search/optimizers/ga.ts';
import { RandomSearch } from '../../src/search/optimizers/random.ts';
import { createOptimizer, type Optimizer } from '../../src/search/optimizers/index.ts';

const sphere = (x: Float64Array) => x.reduce((a, v) => a + (v - 0.3) ** 2, 0);
const bounds = { lower: [-2, -2, -2, -2], upper: [2, 2, 2, 2] };
const base = { x0: [1.5, -1.5, 1, -1], sigma0: 0.5, seed: 3, bounds };

function drive(opt: Optimizer, gens: number): Optimizer {
  for (let g = 0; g < gens; g++) {
    const xs = opt.ask();
    opt.tell(
      xs,
      xs.map((x) => -sphere(x)),
    );
  }
  return opt;
}

for (const kind of ['ga', 'random'] as const) {
  test(`${kind}: generation 0 starts with x0`, () => {
    const opt = createOptimizer(kind, base);
    assert.deepEqual(Array.from(opt.ask()[0]), base.x0);
  });
}

test('ga: elitism carries the best of a generation unchanged into the next', () => {
  const ga = new GeneticAlgorithm({ ...base, elite: 2 });
  const xs = ga.ask();
  const fit = xs.map((x) => -sphere(x));
  ga.tell(xs, fit);
  const order = fit.map((_, i) => i).sort((p, q) => fit[q] - fit[p]);
  const next = ga.ask();
  assert.deepEqual(next[0], xs[order[0]]);
  assert.deepEqual(next[1], xs[order[1]]);
});

test('ga beats random search on a 4-D sphere at equal evaluations (median of 5 seeds)', () => {
  const bestAfter = (kind: 'ga' | 'random', seed: number) => -drive(createOptimizer(kind, { ...base, seed }), 60).best()!.fitness;
  const med = (v: number[]) => v.sort((a, b) => a - b)[2];
  const ga = med([1, 2, 3, 4, 5].map((s) => bestAfter('ga', s)));
  const rs = med([1, 2, 3, 4, 5].map((s) => bestAfter('random', s)));
  assert.ok(ga < rs, `ga ${ga} vs random ${rs}`);
  assert.ok(ga < 1e-2, `ga ${ga}`);
});

test('random with distribution "uniform" covers the box; "gaussian" stays near x0', () => {
  const uni = new RandomSearch({ ...base, populationSize: 400, distribution: 'uniform' });
  const xs = uni.ask().slice(1);
  const m = xs.reduce((a, x) => a + x[0], 0) / xs.length;
  assert.ok(Math.abs(m) < 0.25, `uniform mean ${m}`); // box [-2, 2]: mean 0
  assert.ok(xs.some((x) => x[0] < -1.5) && xs.some((x) => x[0] > 1.5));
  const gau = new RandomSearch({ ...base, populationSize: 400 });
  const g = gau.ask().slice(1);
  const sd = Math.sqrt(g.reduce((a, x) => a + (x[2] - base.x0[2]) ** 2, 0) / g.length);
  assert.ok(Math.abs(sd - 0.5) < 0.08, `gaussian sd ${sd}`);
  assert.throws(() => new RandomSearch({ x0: [0], sigma0: 1, seed: 1, distribution: 'uniform' }), /finite bounds/);
});
