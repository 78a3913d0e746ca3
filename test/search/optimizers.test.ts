/**
 * The optimiser contract, run over every registered optimiser: seeded determinism, resume from the JSON state
 * bit for bit (also with a generation pending), the ask/tell protocol, counters, best-so-far, bounds and the
 * validation every optimiser shares. Each optimiser's own mathematics is tested in its own file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOptimizer, OPTIMIZER_KINDS, optimizerFromState, type Optimizer } from '../../src/search/optimizers/index.ts';

const sphere = (x: Float64Array) => x.reduce((a, v) => a + (v - 0.3) ** 2, 0);
const bounds = { lower: [-2, -2, -2, -2], upper: [2, 2, 2, 2] };
const base = { x0: [1.5, -1.5, 1, -1], sigma0: 0.5, seed: 3, bounds };
const roundTrip = (opt: Optimizer) => optimizerFromState(JSON.parse(JSON.stringify(opt.state())));

function drive(opt: Optimizer, gens: number, restoreEvery = 0): Optimizer {
  for (let g = 0; g < gens; g++) {
    if (restoreEvery && g % restoreEvery === restoreEvery - 1) opt = roundTrip(opt);
    const xs = opt.ask();
    // a failed evaluation (NaN) now and then: the state must carry it too
    opt.tell(
      xs,
      xs.map((x, i) => (g % 4 === 1 && i === 1 ? Number.NaN : -sphere(x))),
    );
  }
  return opt;
}

test('the registry lists cmaes, ga and random', () => {
  assert.deepEqual([...OPTIMIZER_KINDS].sort(), ['cmaes', 'ga', 'random']);
});

for (const kind of OPTIMIZER_KINDS) {
  test(`${kind}: seeded runs are bit-identical, a resumed run equals an uninterrupted one, another seed differs`, () => {
    const a = drive(createOptimizer(kind, base), 40);
    const b = drive(createOptimizer(kind, base), 40, 7);
    assert.equal(JSON.stringify(b.state()), JSON.stringify(a.state()));
    assert.equal(a.state().kind, kind);
    const c = drive(createOptimizer(kind, { ...base, seed: 4 }), 40);
    assert.notEqual(JSON.stringify(c.state()), JSON.stringify(a.state()));
  });

  test(`${kind}: a state saved between ask() and tell() resumes with the same pending candidates`, () => {
    const opt = drive(createOptimizer(kind, base), 3);
    const xs = opt.ask();
    const restored = roundTrip(opt);
    assert.deepEqual(restored.ask(), xs);
    const f = xs.map((x) => -sphere(x));
    opt.tell(xs, f);
    restored.tell(xs, f);
    assert.deepEqual(restored.ask(), opt.ask());
  });

  test(`${kind}: candidates stay in the box, ask() is idempotent, counters and best-so-far follow what was told`, () => {
    const opt = createOptimizer(kind, base);
    assert.equal(opt.best(), null);
    assert.equal(opt.dimension, 4);
    let told = 0;
    let bestF = -Infinity;
    let bestX: number[] = [];
    for (let g = 0; g < 12; g++) {
      const xs = opt.ask();
      assert.deepEqual(opt.ask(), xs);
      assert.equal(xs.length, opt.populationSize);
      for (const x of xs) for (const v of x) assert.ok(v >= -2 && v <= 2, `${kind}: ${v} outside [-2, 2]`);
      const f = xs.map((x, i) => (i === 0 ? Number.NaN : -sphere(x)));
      f.forEach((v, i) => {
        if (v > bestF) [bestF, bestX] = [v, Array.from(xs[i])];
      });
      opt.tell(xs, f);
      told += xs.length;
      assert.equal(opt.generation, g + 1);
      assert.equal(opt.evaluations, told);
      assert.equal(opt.best()?.fitness, bestF);
      assert.deepEqual(opt.best()?.x, bestX);
    }
  });

  test(`${kind}: tell() rejects candidates not asked, wrong counts and infinite fitness`, () => {
    const opt = createOptimizer(kind, { x0: [0, 0], sigma0: 1, seed: 1 });
    assert.throws(() => opt.tell([], []), /without a pending ask/);
    const xs = opt.ask();
    const moved = xs.map((x) => Float64Array.from(x, (v) => v + 1));
    assert.throws(
      () =>
        opt.tell(
          moved,
          xs.map(() => 0),
        ),
      /not the one asked/,
    );
    assert.throws(() => opt.tell(xs, [0]), /needs/);
    assert.throws(
      () =>
        opt.tell(
          xs,
          xs.map(() => Infinity),
        ),
      /finite number or NaN/,
    );
    opt.tell(
      xs,
      xs.map(() => 0),
    );
    assert.equal(opt.generation, 1);
  });

  test(`${kind}: bad options and foreign states are refused`, () => {
    assert.throws(() => createOptimizer(kind, { ...base, sigma0: 0 }), /sigma0 must be > 0/);
    assert.throws(() => createOptimizer(kind, { ...base, x0: [3, 0, 0, 0] }), /outside the bounds/);
    assert.throws(() => createOptimizer(kind, { ...base, populationSize: 1 }), /populationSize/);
    assert.throws(() => createOptimizer(kind, { ...base, x0: [] }), /at least one coordinate/);
    const state = createOptimizer(kind, base).state();
    assert.throws(() => optimizerFromState({ ...state, version: 2 as 1 }), /version 1/);
  });
}

test('an unknown optimizer or state kind names the known ones', () => {
  assert.throws(() => createOptimizer('pso' as never, base), /unknown optimizer "pso" \(expected cmaes \| ga \| random\)/);
  assert.throws(() => optimizerFromState({ kind: 'pso' as never, version: 1 }), /unknown kind "pso"/);
});
