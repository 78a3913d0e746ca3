/**
 * EvolKV on a synthetic fitness: a known ideal profile, task score f(S) = 100 − mean_i |S_i − ideal_i|.
 * Pure simulation (no model): it checks the search logic, the bookkeeping and resumability.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EvolKvSearch, type EvolKvOptions, type EvolKvState } from '../../src/search/evolkv.ts';
import { cacheScore } from '../../src/search/budget.ts';

const L = 20;
const c = 32;
// ramp 16 → 48 (mean 32): bottom layers need less, top layers more
const ideal = Array.from({ length: L }, (_, i) => 16 + (32 * i) / (L - 1));
const task = (p: readonly number[]) => 100 - p.reduce((a, v, i) => a + Math.abs(v - ideal[i]), 0) / L;
const options: EvolKvOptions = { layers: L, target: c, minBudget: 4, maxBudget: 128, seed: 7, generations: 15 };

function runToEnd(search: EvolKvSearch, restore?: (s: EvolKvSearch, step: number) => EvolKvSearch): EvolKvSearch {
  let step = 0;
  while (!search.done()) {
    if (restore) search = restore(search, step);
    const cands = search.ask();
    search.tell(cands.map((cd) => task(cd.profile)));
    step++;
  }
  return search;
}
const roundTrip = (s: EvolKvSearch) => EvolKvSearch.fromState(JSON.parse(JSON.stringify(s.state())) as EvolKvState);

test('groups, populations and candidate profiles follow Algorithm 1', () => {
  const s = new EvolKvSearch(options);
  assert.equal(s.groupCount, 3);
  assert.deepEqual(s.groupRange(2), [16, 20]);
  const cands = s.ask();
  assert.equal(cands.length, 10); // 4 + ⌊3 ln 8⌋
  for (const cd of cands) {
    assert.equal(cd.profile.length, L);
    assert.ok(cd.profile.every(Number.isInteger));
    assert.deepEqual(cd.profile.slice(8), new Array(12).fill(32)); // groups not reached stay at c
    cd.profile.slice(0, 8).forEach((b, i) => assert.equal(b, Math.min(128, Math.max(4, Math.round(cd.x[i] * c)))));
  }
  assert.deepEqual(s.ask(), cands, 'ask() is idempotent until tell()');
  // the x spread matches σ0 = 0.3 around x0 = 1 (loosely: 80 draws)
  const xs = cands.flatMap((cd) => cd.x);
  const sd = Math.sqrt(xs.reduce((a, v) => a + (v - 1) ** 2, 0) / xs.length);
  assert.ok(sd > 0.15 && sd < 0.45, `sd ${sd}`);
});

test('fitness uses the current group mean for CacheScore (or all layers on request)', () => {
  const s = new EvolKvSearch(options);
  const cands = s.ask();
  const res = s.tell(cands.map(() => 50));
  res.evaluations.forEach((e, i) => {
    const gMean = cands[i].profile.slice(0, 8).reduce((a, b) => a + b, 0) / 8;
    assert.equal(e.meanBudget, gMean);
    assert.equal(e.cacheScore, cacheScore(gMean, c, 0.2));
    assert.equal(e.fitness, 50 * (1 + 0.3 * e.cacheScore));
  });
  const all = new EvolKvSearch({ ...options, cacheScoreScope: 'all' });
  const ca = all.ask();
  const ra = all.tell(ca.map(() => 50));
  assert.equal(ra.evaluations[0].meanBudget, ca[0].profile.reduce((a, b) => a + b, 0) / L);
});

test('the global best is never reset; the next group starts from it; the final profile beats uniform at the exact mean', () => {
  const s = new EvolKvSearch(options);
  let bestSoFar = -Infinity;
  while (!s.done()) {
    const p = s.progress();
    const cands = s.ask();
    if (p.generationInGroup === 0 && p.group > 0) {
      const [start, end] = s.groupRange(p.group);
      const g = s.best()!.profile;
      for (const cd of cands) cd.profile.forEach((b, i) => (i < start || i >= end) && assert.equal(b, g[i]));
    }
    s.tell(cands.map((cd) => task(cd.profile)));
    const b = s.best()!.fitness;
    assert.ok(b >= bestSoFar);
    bestSoFar = b;
  }
  const r = s.result();
  assert.equal(s.progress().evaluations, 15 * 10 + 15 * 10 + 15 * 8); // last group n = 4: λ = 4 + ⌊3 ln 4⌋ = 8
  assert.equal(
    r.completedProfile.reduce((a, b) => a + b, 0),
    c * L,
    'exact mean after completion',
  );
  assert.ok(r.completedProfile.every((b) => b >= 4 && b <= 128));
  const uniform = new Array(L).fill(c);
  const fUniform = task(uniform);
  const fFound = task(r.completedProfile);
  assert.ok(fFound > fUniform + 3, `found ${fFound} vs uniform ${fUniform}`);
  // it learned the shape: the top group got more than the bottom group
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  assert.ok(mean(r.completedProfile.slice(16)) > mean(r.completedProfile.slice(0, 8)) + 10);
});

test('stop/resume: state serialised mid-search (after tell and between ask and tell) gives the same final profile bit for bit', () => {
  const straight = runToEnd(new EvolKvSearch(options));
  const resumed = runToEnd(new EvolKvSearch(options), (s, step) => {
    if (step % 4 === 1) return roundTrip(s); // after a tell
    if (step % 7 === 3) {
      const before = s.ask(); // killed during a generation: candidates asked, not told
      const r = roundTrip(s);
      assert.deepEqual(r.ask(), before);
      return r;
    }
    return s;
  });
  assert.deepEqual(resumed.result(), straight.result());
  assert.equal(JSON.stringify(resumed.state()), JSON.stringify(straight.state()));
  assert.notDeepEqual(runToEnd(new EvolKvSearch({ ...options, seed: 8 })).result().best!.profile, straight.result().best!.profile);
});

test('optimizer ga and random run behind the same loop, resume bit for bit, and also beat uniform', () => {
  for (const optimizer of ['ga', 'random'] as const) {
    const o = { ...options, optimizer };
    const a = runToEnd(new EvolKvSearch(o));
    const b = runToEnd(new EvolKvSearch(o), (s, step) => (step % 5 === 2 ? roundTrip(s) : s));
    assert.deepEqual(b.result(), a.result());
    assert.ok(task(a.result().completedProfile) > task(new Array(L).fill(c)), optimizer);
  }
});

test('failed evaluations (NaN) never become the best; wrong score counts are rejected', () => {
  const s = new EvolKvSearch(options);
  const cands = s.ask();
  assert.throws(() => s.tell([1, 2]), /needs 10/);
  const r = s.tell(cands.map((_, i) => (i === 3 ? 10 : NaN)));
  assert.equal(r.generationBest, 3);
  assert.equal(s.best()!.taskScore, 10);
});

test('option validation names the field', () => {
  assert.throws(() => new EvolKvSearch({ ...options, groupSize: 0 }), /search\.group_size/);
  assert.throws(() => new EvolKvSearch({ ...options, target: 2 }), /search\.budget/);
  assert.throws(() => new EvolKvSearch({ ...options, optimizer: 'pso' as never }), /search\.optimizer/);
  assert.throws(() => new EvolKvSearch({ ...options, target: 32.5, layers: 3 }), /search\.budget/);
});

test("search.restarts reaches each group's CMA-ES and survives a state round trip", () => {
  const s = new EvolKvSearch({ ...options, restarts: 2 });
  const opts = (x: EvolKvSearch) => (x.state().optimizer as unknown as { options: { restarts: number } }).options.restarts;
  assert.equal(opts(s), 2);
  assert.equal(opts(roundTrip(s)), 2);
  assert.equal(opts(new EvolKvSearch(options)), 0);
  assert.throws(() => new EvolKvSearch({ ...options, restarts: -1 }), /search\.restarts: expected an integer >= 0/);
});
