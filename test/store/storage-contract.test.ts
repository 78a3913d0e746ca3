/**
 * The contracts of src/store/storage.ts, written against the interfaces only, so a second backend passes
 * the same file: add it to BACKENDS. What resume relies on is here: run leases and their hand-over,
 * insertEvaluation's idempotence and attempt rules, completedEvaluationKeys listing exactly the ok rows,
 * saveGeneration whole or absent, and a read-only handle refusing every write.
 * (SQLite-only behaviour, such as a dead pid or a killed writer, is in store.test.ts and kill.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadOnlyStorage, Storage } from '../../src/store/storage.ts';
import { evaluationKeyString } from '../../src/store/storage.ts';
import { Store } from '../../src/store/store.ts';
import type { EvaluationRow, NewCandidate, NewGeneration } from '../../src/store/types.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { newRun, tempDb } from './helpers.ts';

interface Backend {
  name: string;
  /** A fresh, empty storage, and a way to open the same data read-only. */
  create(): { storage: Storage; readOnly(): ReadOnlyStorage };
}

const BACKENDS: Backend[] = [
  {
    name: 'SqliteStorage on a temp file',
    create() {
      const path = tempDb();
      return { storage: Store.open(path), readOnly: () => Store.openReadOnly(path) };
    },
  },
];

const isKvoptError = (e: unknown) => e instanceof KvoptError;

function samples(s: Storage, runId: number, n: number): number[] {
  return s.registerSamples(
    runId,
    Array.from({ length: n }, (_, i) => ({ task: 'T', key: String(i), contentHash: `c${i}`, split: 'eval' as const })),
  );
}

const generation = (runId: number, g: number): NewGeneration => ({
  runId,
  group: 0,
  generation: g,
  optimizerState: { mean: [g, g + 1], sigma: 0.5 },
  searchState: { evaluated: g },
  bestFitness: g + 0.5,
  medianFitness: g,
});
const candidate = (index: number, fitness: number): NewCandidate => ({
  index,
  budgets: [index, 8 - index],
  fitness,
  taskScore: fitness,
  cacheScore: 1,
  sampleScores: { '1': fitness },
});

for (const backend of BACKENDS) {
  test(`${backend.name}: a run's lifecycle: held while running, finished, resumed under its id, completed`, () => {
    const { storage: s } = backend.create();
    assert.equal(s.createExperiment('exp'), s.createExperiment('exp'));
    const a = s.createRun(newRun({ configHash: 'ha' }));
    const b = s.createRun(newRun({ configHash: 'hb', kind: 'search', experiment: 'other' }));
    assert.equal(a.status, 'running');
    assert.ok(s.holdsRun(a.id) && s.heartbeat(a.id));
    assert.equal(s.getRun('latest').id, b.id);
    assert.equal(s.getRun('latest', 'eval').id, a.id);
    assert.throws(() => s.getRun(b.id + 100), isKvoptError);

    s.setModelHash(a.id, 'm1');
    s.setModelHash(a.id, 'm1');
    assert.throws(() => s.setModelHash(a.id, 'm2'), isKvoptError);
    assert.equal(s.getRun(a.id).modelHash, 'm1');

    // Ctrl-C: the run is no longer held; a heartbeat reports the lost lease.
    s.finishRun(a.id, 'interrupted', 'interrupted by SIGINT');
    assert.equal(s.getRun(a.id).status, 'interrupted');
    assert.ok(!s.holdsRun(a.id));
    assert.equal(s.heartbeat(a.id), false);
    // Our own running run is never taken for dead.
    assert.deepEqual(s.markInterrupted(0), []);
    assert.equal(s.findResumableRun('ha', 'eval')?.id, a.id);
    assert.equal(s.findResumableRun('ha', 'search'), null);
    assert.equal(s.completedRun('ha', 'eval'), null);

    const resumed = s.resumeRun(a.id);
    assert.equal(resumed.id, a.id);
    assert.equal(resumed.status, 'running');
    assert.equal(resumed.error, null);
    assert.ok(s.holdsRun(a.id));
    s.finishRun(a.id, 'complete');
    assert.equal(s.findResumableRun('ha', 'eval'), null);
    assert.equal(s.completedRun('ha', 'eval')?.id, a.id);
    assert.throws(() => s.resumeRun(a.id), isKvoptError);

    s.finishRun(b.id, 'failed', 'boom');
    assert.equal(s.getRun(b.id).error, 'boom');
    const list = s.listRuns();
    assert.deepEqual(
      list.map((r) => [r.id, r.status]),
      [
        [b.id, 'failed'],
        [a.id, 'complete'],
      ],
    );
    assert.deepEqual(
      s.listRuns({ experiment: 'other' }).map((r) => r.id),
      [b.id],
    );
    assert.deepEqual(
      s.listRuns({ limit: 1 }).map((r) => r.id),
      [b.id],
    );
    s.close();
  });

  test(`${backend.name}: discardEmptyRun removes only a run without work`, () => {
    const { storage: s } = backend.create();
    const empty = s.createRun(newRun({ configHash: 'e' }));
    const worked = s.createRun(newRun({ configHash: 'w' }));
    const [x] = samples(s, worked.id, 1);
    s.insertEvaluation({ runId: worked.id, sampleId: x, method: 'full', budget: 'full', setting: 'q', score: 1, status: 'ok' });
    const searched = s.createRun(newRun({ configHash: 's', kind: 'search' }));
    s.saveGeneration(generation(searched.id, 0), []);
    const profiled = s.createRun(newRun({ configHash: 'p', kind: 'search' }));
    s.saveProfile({ runId: profiled.id, budget: 8, budgets: [8, 8], source: 'search' });
    assert.equal(s.discardEmptyRun(worked.id), false);
    assert.equal(s.discardEmptyRun(searched.id), false);
    assert.equal(s.discardEmptyRun(profiled.id), false);
    assert.equal(s.discardEmptyRun(empty.id), true);
    assert.throws(() => s.getRun(empty.id), isKvoptError);
    assert.deepEqual(
      s.listRuns().map((r) => r.id),
      [profiled.id, searched.id, worked.id],
    );
    s.close();
  });

  test(`${backend.name}: samples are registered once in order; prefills are counted per prompt`, () => {
    const { storage: s } = backend.create();
    const run = s.createRun(newRun());
    const ids = samples(s, run.id, 3);
    assert.deepEqual(samples(s, run.id, 3), ids); // idempotent
    assert.deepEqual(
      s.samplesForRun(run.id).map((x) => [x.id, x.position, x.key]),
      ids.map((id, i) => [id, i, String(i)]),
    );
    const other = s.createRun(newRun({ configHash: 'other' }));
    assert.deepEqual(samples(s, other.id, 2), ids.slice(0, 2)); // the same content is the same sample

    assert.equal(s.prefillsPerPrompt(run.id), 0);
    assert.equal(s.meanPrefillTokens(run.id), null);
    const prefill = (contentHash: string, tokens: number) =>
      s.recordPrefill({ runId: run.id, modelHash: 'm', contentHash, setting: 'q', window: 4, tokens, ms: 1 });
    prefill('c0', 100);
    prefill('c1', 201);
    prefill('c1', 201);
    assert.equal(s.prefillCount(run.id), 3);
    assert.equal(s.prefillCount(), 3);
    assert.equal(s.prefillCount(other.id), 0);
    assert.equal(s.prefillsPerPrompt(run.id), 1.5);
    assert.equal(s.maxPrefillsPerPrompt(run.id), 2);
    assert.equal(s.meanPrefillTokens(run.id), Math.round((100 + 201) / 2));
    assert.equal(s.prefilledTokens('m', 'c1', 'q'), 201);
    assert.equal(s.prefilledTokens('m', 'c1', 'other setting'), null);
    s.close();
  });

  test(`${backend.name}: insertEvaluation is idempotent: an ok row is never overwritten, a failed one only by ok or a later attempt`, () => {
    const { storage: s } = backend.create();
    const run = s.createRun(newRun());
    const [x, y, z] = samples(s, run.id, 3);
    const key = { runId: run.id, sampleId: x, method: 'snapkv', budget: '32', setting: 'q' };
    const failed = (attempt: number, error: string): EvaluationRow => ({ ...key, score: null, status: 'failed', error, attempt });

    assert.equal(s.evaluationStatus(key), null);
    assert.equal(s.insertEvaluation(failed(1, 'first')), 'inserted');
    assert.equal(s.hasEvaluation(key), false);
    assert.equal(s.insertEvaluation(failed(1, 'same attempt')), 'kept');
    assert.equal(s.insertEvaluation({ ...key, score: null, status: 'failed', error: 'attempt defaults to 1' }), 'kept');
    assert.equal(s.insertEvaluation(failed(2, 'second')), 'replaced');
    assert.deepEqual(s.evaluationStatus(key), { status: 'failed', attempt: 2 });
    assert.equal(s.evaluationsForRun(run.id)[0].error, 'second');
    assert.equal(s.insertEvaluation({ ...key, score: 0.25, status: 'ok', attempt: 2 }), 'replaced');
    assert.equal(s.insertEvaluation({ ...key, score: 0.75, status: 'ok', attempt: 3 }), 'kept');
    assert.equal(s.insertEvaluation(failed(9, 'late')), 'kept');
    assert.ok(s.hasEvaluation(key));
    const [stored] = s.evaluationsForRun(run.id);
    assert.equal(stored.score, 0.25);
    assert.equal(stored.status, 'ok');
    assert.equal(stored.error, null);
    assert.equal(s.evaluationsForRun(run.id).length, 1);

    // completedEvaluationKeys: exactly the ok rows, nothing failed, nothing of another run.
    s.insertEvaluation({ runId: run.id, sampleId: y, method: 'full', budget: 'full', setting: 'q', score: 1, status: 'ok' });
    s.insertEvaluation({ runId: run.id, sampleId: z, method: 'full', budget: 'full', setting: 'q', score: null, status: 'failed', error: 'oom' });
    const other = s.createRun(newRun({ configHash: 'other' }));
    s.insertEvaluation({ runId: other.id, sampleId: z, method: 'full', budget: 'full', setting: 'q', score: 1, status: 'ok' });
    assert.deepEqual(
      [...s.completedEvaluationKeys(run.id)].sort(),
      [evaluationKeyString(key), evaluationKeyString({ sampleId: y, method: 'full', budget: 'full', setting: 'q' })].sort(),
    );
    assert.deepEqual(
      s.evaluationsForRun(run.id).map((e) => [e.sampleId, e.method, e.status]),
      [
        [x, 'snapkv', 'ok'],
        [y, 'full', 'ok'],
        [z, 'full', 'failed'],
      ],
    );
    s.close();
  });

  test(`${backend.name}: saveGeneration is whole or absent; a repeated generation stores nothing`, () => {
    const { storage: s } = backend.create();
    const run = s.createRun(newRun({ kind: 'search' }));
    assert.equal(s.loadLatestGeneration(run.id), null);
    assert.equal(s.bestCandidate(run.id), null);
    const g0 = s.saveGeneration(generation(run.id, 0), [candidate(0, 0.2), candidate(1, 0.9)]);
    s.saveGeneration(generation(run.id, 1), [candidate(0, 0.9), candidate(1, 0.4), { ...candidate(0, 0.95), split: 'heldout' }]);

    // The same generation again: refused, and none of its candidates appear.
    assert.throws(() => s.saveGeneration(generation(run.id, 1), [candidate(7, 5)]), isKvoptError);
    // A candidate list that breaks the (index, split) key: nothing of the generation is stored.
    assert.throws(() => s.saveGeneration(generation(run.id, 2), [candidate(0, 1), candidate(0, 1)]));
    assert.deepEqual(
      s.generations(run.id).map((g) => g.generation),
      [0, 1],
    );

    const latest = s.loadLatestGeneration(run.id);
    assert.ok(latest);
    assert.equal(latest.generation, 1);
    assert.deepEqual(latest.optimizerState, { mean: [1, 2], sigma: 0.5 });
    assert.deepEqual(latest.searchState, { evaluated: 1 });
    assert.deepEqual(
      latest.candidates.map((c) => [c.split, c.index, c.fitness]),
      [
        ['calibration', 0, 0.9],
        ['calibration', 1, 0.4],
        ['heldout', 0, 0.95],
      ],
    );
    assert.deepEqual(
      s.candidates(g0).map((c) => [c.index, c.budgets, c.sampleScores]),
      [
        [0, [0, 8], { '1': 0.2 }],
        [1, [1, 7], { '1': 0.9 }],
      ],
    );
    // Highest calibration fitness, the earliest on ties; held-out candidates never count.
    const best = s.bestCandidate(run.id);
    assert.equal(best?.generationId, g0);
    assert.equal(best?.index, 1);

    s.saveProfile({ runId: run.id, budget: 8, budgets: [1, 15], source: 'search', fitness: 0.9 });
    s.saveProfile({ runId: run.id, budget: 8, budgets: [2, 14], source: 'transfer' });
    s.saveProfile({ runId: run.id, budget: 4, budgets: [4, 4], source: 'search' });
    assert.deepEqual(
      s.profiles(run.id).map((p) => [p.budget, p.budgets, p.source, p.fitness]),
      [
        [4, [4, 4], 'search', null],
        [8, [2, 14], 'transfer', null],
      ],
    );
    s.close();
  });

  test(`${backend.name}: a read-only handle reads everything and refuses every write`, () => {
    const { storage: s, readOnly } = backend.create();
    const run = s.createRun(newRun({ kind: 'search' }));
    const [x] = samples(s, run.id, 1);
    s.insertEvaluation({ runId: run.id, sampleId: x, method: 'full', budget: 'full', setting: 'q', score: 1, status: 'ok' });
    s.saveGeneration(generation(run.id, 0), [candidate(0, 1)]);
    s.saveProfile({ runId: run.id, budget: 8, budgets: [8], source: 'search' });
    s.recordPrefill({ runId: run.id, modelHash: 'm', contentHash: 'c0', setting: 'q', window: 1, tokens: 10, ms: 1 });
    s.finishRun(run.id, 'interrupted');

    const r = readOnly();
    const snapshot = (h: ReadOnlyStorage) => ({
      runs: h.listRuns(),
      samples: h.samplesForRun(run.id),
      evaluations: h.evaluationsForRun(run.id),
      generations: h.generations(run.id),
      latest: h.loadLatestGeneration(run.id),
      profiles: h.profiles(run.id),
      prefills: h.prefillCount(),
    });
    const before = snapshot(r);
    assert.equal(before.evaluations.length, 1);
    assert.equal(before.generations.length, 1);

    // Reached only by casting the type away: each must throw and change nothing.
    const w = r as unknown as Storage;
    const writes: [string, () => unknown][] = [
      ['createExperiment', () => w.createExperiment('new')],
      ['createRun', () => w.createRun(newRun({ configHash: 'new' }))],
      ['findResumableRun', () => w.findResumableRun('h1', 'search')],
      ['setModelHash', () => w.setModelHash(run.id, 'm')],
      ['heartbeat', () => w.heartbeat(run.id)],
      ['discardEmptyRun', () => w.discardEmptyRun(run.id)],
      ['finishRun', () => w.finishRun(run.id, 'complete')],
      ['markInterrupted', () => w.markInterrupted(0)],
      ['resumeRun', () => w.resumeRun(run.id)],
      ['registerSamples', () => w.registerSamples(run.id, [{ task: 'T', key: 'new', contentHash: 'new', split: 'eval' }])],
      ['recordPrefill', () => w.recordPrefill({ runId: run.id, modelHash: 'm', contentHash: 'c0', setting: 'q', window: 1, tokens: 1, ms: 1 })],
      ['insertEvaluation', () => w.insertEvaluation({ runId: run.id, sampleId: x, method: 'snapkv', budget: '8', setting: 'q', score: 0, status: 'ok' })],
      ['saveGeneration', () => w.saveGeneration(generation(run.id, 1), [])],
      ['saveProfile', () => w.saveProfile({ runId: run.id, budget: 4, budgets: [4], source: 'search' })],
    ];
    for (const [name, write] of writes) assert.throws(write, `${name} on a read-only handle`);
    assert.deepEqual(snapshot(r), before);
    r.close();
    // The writer sees the same data: nothing slipped through.
    assert.deepEqual(snapshot(s), before);
    s.close();
  });
}
