import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from '../../src/store/store.ts';
import { lossInterval, meanInterval, pairedDifference, seedFor } from '../../src/stats/bootstrap.ts';
import { averageResults, runResults } from '../../src/stats/quality.ts';
import { averagesWithIntervals, withIntervals } from '../../src/stats/results.ts';
import { newRun, sampleIds, tempDb } from '../store/helpers.ts';

/** A real SQLite store with full, snapkv@64 and adakv@64 on 12 samples, one snapkv sample failed. */
function fixture() {
  const store = Store.open(tempDb(), {});
  const run = store.createRun(newRun());
  const ids = sampleIds(store, run.id, 'qa', 12);
  const full = ids.map((_, i) => 0.5 + (i % 4) * 0.1);
  const snap = ids.map((_, i) => full[i] - (i % 3) * 0.05);
  const ada = ids.map((_, i) => full[i] - (i % 2) * 0.02);
  ids.forEach((sampleId, i) => {
    const base = { runId: run.id, sampleId, setting: 'question-aware', status: 'ok' as const };
    store.insertEvaluation({ ...base, method: 'full', budget: 'full', score: full[i] });
    if (i === 5) store.insertEvaluation({ ...base, method: 'snapkv', budget: '64', score: null, status: 'failed', error: 'x' });
    else store.insertEvaluation({ ...base, method: 'snapkv', budget: '64', score: snap[i] });
    store.insertEvaluation({ ...base, method: 'adakv', budget: '64', score: ada[i] });
  });
  return { store, run, full, snap, ada };
}

test('each row carries the interval of its own samples, paired against full on the samples both scored', () => {
  const { store, run, full, snap } = fixture();
  const rows = withIntervals(runResults(store, run.id), store.evaluationsForRun(run.id), { seed: 7 });
  const snapRow = rows.find((r) => r.method === 'snapkv')!;
  const keep = snap.map((_, i) => i).filter((i) => i !== 5);
  const seed = seedFor(7, `snapkv\u000064\u0000question-aware\u0000qa`);
  // independent recomputation from the raw arrays
  const score = meanInterval(
    keep.map((i) => snap[i]),
    { seed },
  );
  assert.equal(snapRow.n, 11);
  assert.ok(Math.abs(snapRow.meanScore! - score.value) < 1e-12);
  assert.deepEqual([snapRow.scoreLo, snapRow.scoreHi], [score.lo, score.hi]);
  const loss = lossInterval(
    keep.map((i) => snap[i]),
    keep.map((i) => full[i]),
    { seed },
  );
  assert.ok(Math.abs(snapRow.qualityLoss! - loss.value) < 1e-12);
  assert.deepEqual([snapRow.qualityLossLo, snapRow.qualityLossHi], [loss.lo, loss.hi]);
  const diff = pairedDifference(
    keep.map((i) => snap[i]),
    keep.map((i) => full[i]),
    { seed },
  );
  assert.equal(snapRow.compareTo, 'full');
  assert.deepEqual([snapRow.diff, snapRow.diffLo, snapRow.diffHi], [diff.value, diff.lo, diff.hi]);
  // i % 3 == 0 are ties (4 of them, none failed: 0,3,6,9), the other 7 lose
  assert.deepEqual([snapRow.wins, snapRow.ties, snapRow.losses], [0, 4, 7]);
  assert.equal(snapRow.distinguishable, true);
  for (const r of rows) assert.ok(r.scoreLo! <= r.meanScore! && r.meanScore! <= r.scoreHi!, `${r.method}: interval contains the mean`);
  const fullRow = rows.find((r) => r.method === 'full')!;
  assert.equal(fullRow.compareTo, null);
  store.close();
});

test('--compare-to another method pairs each budget with the same budget of the reference', () => {
  const { store, run, snap, ada } = fixture();
  const rows = withIntervals(runResults(store, run.id), store.evaluationsForRun(run.id), { seed: 1, compareTo: 'adakv' });
  const snapRow = rows.find((r) => r.method === 'snapkv')!;
  const keep = snap.map((_, i) => i).filter((i) => i !== 5);
  const d = keep.map((i) => snap[i] - ada[i]);
  assert.ok(Math.abs(snapRow.diff! - d.reduce((a, b) => a + b, 0) / d.length) < 1e-12);
  assert.equal(snapRow.compareTo, 'adakv');
  assert.equal(rows.find((r) => r.method === 'adakv')!.compareTo, null);
  // full has no 64 budget of adakv to pair with? it has: full's budget is 'full', adakv has none -> no pair
  assert.equal(rows.find((r) => r.method === 'full')!.diff, null);
  store.close();
});

test('task averages: a stratified interval that contains the mean; B = 0 turns intervals off', () => {
  const { store, run } = fixture();
  const evals = store.evaluationsForRun(run.id);
  const avg = averagesWithIntervals(averageResults(runResults(store, run.id)), evals, { seed: 3 });
  for (const a of avg) assert.ok(a.scoreLo! <= a.meanScore! && a.meanScore! <= a.scoreHi!);
  const off = withIntervals(runResults(store, run.id), evals, { resamples: 0 });
  assert.ok(off.every((r) => r.scoreLo === null && r.scoreHi === null));
  store.close();
});
