import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_VERSION, migrate, schemaVersion } from '../../src/store/migrations.ts';
import { averageResults, runResults } from '../../src/stats/quality.ts';
import type { SqliteReadOnlyStorage } from '../../src/store/sqlite/storage.ts';
import { Store, evaluationKeyString } from '../../src/store/store.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { newRun, sampleIds, tempDb } from './helpers.ts';

const tables = (db: Database.Database) =>
  (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);

test('open creates the parent folder, WAL, foreign keys, and migrates an empty file to the latest version', () => {
  const path = tempDb();
  const s = Store.open(path);
  assert.ok(existsSync(path));
  assert.equal(s.schemaVersion(), SCHEMA_VERSION);
  assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
  assert.equal(s.db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(s.db.pragma('foreign_keys', { simple: true }), 1);
  assert.equal(s.db.pragma('synchronous', { simple: true }), 1); // NORMAL
  assert.deepEqual(tables(s.db), ['candidates', 'evaluations', 'experiments', 'generations', 'prefills', 'profiles', 'run_samples', 'runs', 'samples']);
  s.close();
  // Reopening applies nothing.
  const db = new Database(path);
  assert.deepEqual(migrate(db), []);
  db.close();
});

test('a v1 database (eval tables only) migrates to the latest version and keeps its rows', () => {
  const path = tempDb();
  mkdirSync(dirname(path));
  const db = new Database(path);
  assert.deepEqual(migrate(db, 1), [1]);
  assert.equal(schemaVersion(db), 1);
  assert.ok(!tables(db).includes('generations'));
  db.prepare(`INSERT INTO experiments (name, created_at) VALUES ('old', 1)`).run();
  db.prepare(
    `INSERT INTO runs (experiment_id, kind, config_json, config_hash, model_path, code_version, seed, status, started_at, heartbeat_at)
     VALUES (1, 'eval', '{}', 'hh', '/m', 'v0', 0, 'complete', 1, 2)`,
  ).run();
  db.prepare(`INSERT INTO samples (task, sample_key, content_hash) VALUES ('needle', '0', 'c0')`).run();
  db.prepare(
    `INSERT INTO evaluations (run_id, sample_id, method, budget, setting, score, status, created_at) VALUES (1, 1, 'full', 'full', 'question-aware', 0.5, 'ok', 3)`,
  ).run();
  db.close();

  const s = Store.open(path);
  assert.equal(s.schemaVersion(), SCHEMA_VERSION);
  assert.ok(tables(s.db).includes('generations') && tables(s.db).includes('candidates'));
  const run = s.getRun(1);
  assert.equal(run.experiment, 'old');
  assert.equal(run.status, 'complete');
  assert.equal(s.evaluationsForRun(1)[0].score, 0.5);
  // The new tables work on the migrated file.
  s.saveGeneration({ runId: 1, group: 0, generation: 0, optimizerState: { m: [1] }, bestFitness: 1, medianFitness: 1 }, []);
  assert.equal(s.generations(1).length, 1);
  s.close();
});

test('a database from a newer kvopt, or a file that is not SQLite, is a KvoptError naming the file', () => {
  const path = tempDb();
  mkdirSync(dirname(path));
  const db = new Database(path);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  assert.throws(() => Store.open(path), {
    name: 'KvoptError',
    message: `${path}: database schema version ${SCHEMA_VERSION + 1} is newer than this kvopt understands (${SCHEMA_VERSION}); upgrade kvopt or use another --db`,
  });
  const junk = tempDb('junk.db');
  Store.open(junk).close(); // make the folder
  writeFileSync(junk, 'this is not a database, just some text that is long enough to be a header........');
  assert.throws(
    () => Store.open(junk),
    (e: unknown) => e instanceof KvoptError && e.message.startsWith(`${junk}: not a kvopt database`),
  );
  assert.throws(() => Store.open(tempDb('absent.db'), { mustExist: true }), /no such kvopt database/);
});

test('runs: create, get by id and latest, heartbeat, finish, list with duration', () => {
  let t = 1_000;
  const s = Store.open(tempDb(), { now: () => t });
  const a = s.createRun(newRun());
  assert.equal(a.status, 'running');
  assert.equal(a.pid, process.pid);
  assert.equal(a.startedAt, 1_000);
  t = 5_000;
  s.heartbeat(a.id);
  assert.equal(s.getRun(a.id).heartbeatAt, 5_000);
  const b = s.createRun(newRun({ kind: 'search', experiment: 'other', configHash: 'h2' }));
  assert.equal(s.getRun('latest').id, b.id);
  assert.equal(s.getRun('latest', 'eval').id, a.id);
  t = 9_000;
  s.finishRun(a.id, 'complete');
  const list = s.listRuns();
  assert.deepEqual(
    list.map((r) => [r.id, r.status, r.durationMs]),
    [
      [b.id, 'running', 0], // started at 5000, last heartbeat 5000
      [a.id, 'complete', 8_000], // 1000 → 9000
    ],
  );
  assert.deepEqual(
    s.listRuns({ experiment: 'other' }).map((r) => r.id),
    [b.id],
  );
  assert.throws(() => s.getRun(99), { message: `${s.path}: no run with id 99` });
  s.setModelHash(a.id, 'abc');
  assert.throws(() => s.setModelHash(a.id, 'def'), /was made with model abc/);
  s.close();
});

test('interrupted runs: dead pid on this host at once, stale heartbeat elsewhere; resume takes the run over', () => {
  let t = 1_000_000;
  const path = tempDb();
  const s = Store.open(path, { now: () => t });
  const mine = s.createRun(newRun({ configHash: 'mine' }));
  const deadPid = s.createRun(newRun({ configHash: 'dead' }));
  const remote = s.createRun(newRun({ configHash: 'remote' }));
  const remoteFresh = s.createRun(newRun({ configHash: 'fresh' }));
  // A pid that cannot exist (above pid_max), and runs held by another machine.
  s.db.prepare('UPDATE runs SET pid = 2147483646 WHERE id = ?').run(deadPid.id);
  s.db.prepare(`UPDATE runs SET host = 'elsewhere', heartbeat_at = ? WHERE id = ?`).run(t - 200_000, remote.id);
  s.db.prepare(`UPDATE runs SET host = 'elsewhere', heartbeat_at = ? WHERE id = ?`).run(t - 1_000, remoteFresh.id);
  assert.deepEqual(s.markInterrupted(120_000), [deadPid.id, remote.id]);
  assert.equal(s.getRun(mine.id).status, 'running');
  assert.equal(s.getRun(remoteFresh.id).status, 'running');
  assert.equal(s.getRun(remote.id).status, 'interrupted');

  // findResumableRun: newest unfinished run with the hash; a complete one is not offered.
  assert.equal(s.findResumableRun('dead', 'eval')!.id, deadPid.id);
  assert.equal(s.findResumableRun('dead', 'search'), null);
  s.finishRun(mine.id, 'complete');
  assert.equal(s.findResumableRun('mine', 'eval'), null);
  assert.throws(() => s.resumeRun(mine.id), { message: `run ${mine.id} is already complete; nothing to resume` });
  assert.throws(() => s.resumeRun(remoteFresh.id), /is still running \(pid \d+ on elsewhere, heartbeat 1s ago\)/);

  t += 10;
  const r = s.resumeRun(deadPid.id);
  assert.equal(r.status, 'running');
  assert.equal(r.pid, process.pid);
  assert.equal(r.heartbeatAt, t);
  assert.equal(r.error, null);
  s.close();
});

test('samples: registered once, linked per run with split and order', () => {
  const s = Store.open(tempDb());
  const run = s.createRun(newRun());
  const ids = s.registerSamples(run.id, [
    { task: 'needle', key: '0', contentHash: 'a', split: 'calibration' },
    { task: 'needle', key: '1', contentHash: 'b', split: 'heldout' },
  ]);
  assert.deepEqual(s.registerSamples(run.id, [{ task: 'needle', key: '0', contentHash: 'a', split: 'calibration' }]), [ids[0]]);
  const other = s.createRun(newRun());
  assert.deepEqual(s.registerSamples(other.id, [{ task: 'needle', key: '1', contentHash: 'b', split: 'eval' }]), [ids[1]]);
  assert.deepEqual(
    s.samplesForRun(run.id).map((x) => [x.id, x.key, x.split, x.position]),
    [
      [ids[0], '0', 'calibration', 0],
      [ids[1], '1', 'heldout', 1],
    ],
  );
  assert.equal((s.db.prepare('SELECT COUNT(*) AS n FROM samples').get() as { n: number }).n, 2);
  s.close();
});

test('prefills: counted per run and per prompt', () => {
  const s = Store.open(tempDb());
  const a = s.createRun(newRun());
  const b = s.createRun(newRun());
  const ev = { modelHash: 'm', setting: 'question-aware', window: 32, tokens: 100, ms: 5 };
  s.recordPrefill({ ...ev, runId: a.id, contentHash: 'x' });
  s.recordPrefill({ ...ev, runId: a.id, contentHash: 'y' });
  s.recordPrefill({ ...ev, runId: b.id, contentHash: 'x' });
  assert.equal(s.prefillCount(a.id), 2);
  assert.equal(s.prefillCount(b.id), 1);
  assert.equal(s.prefillCount(), 3);
  assert.equal(s.maxPrefillsPerPrompt(a.id), 1);
  assert.equal(s.maxPrefillsPerPrompt(), 2); // x twice across runs
  s.recordPrefill({ ...ev, runId: a.id, contentHash: 'x', window: 64 }); // another window is another prefill
  assert.equal(s.maxPrefillsPerPrompt(a.id), 1);
  s.recordPrefill({ ...ev, runId: b.id, contentHash: 'z', tokens: 51 });
  assert.equal(s.meanPrefillTokens(b.id), 76); // (100 + 51) / 2 = 75.5, rounded
  assert.equal(s.meanPrefillTokens(999), null);
  s.close();
});

test('insertEvaluation is idempotent on the unique key; a failed row gives way to a later attempt', () => {
  const s = Store.open(tempDb());
  const run = s.createRun(newRun());
  const [sid] = sampleIds(s, run.id, 'needle', 1);
  const key = { runId: run.id, sampleId: sid!, method: 'snapkv', budget: '32', setting: 'question-aware' };
  assert.equal(s.hasEvaluation(key), false);
  assert.equal(s.insertEvaluation({ ...key, score: null, status: 'failed', error: 'boom', attempt: 1 }), 'inserted');
  assert.equal(s.hasEvaluation(key), false);
  assert.equal(s.insertEvaluation({ ...key, score: null, status: 'failed', error: 'boom again', attempt: 1 }), 'kept');
  assert.equal(
    s.insertEvaluation({
      ...key,
      score: 0.5,
      status: 'ok',
      attempt: 2,
      kvEntries: 10,
      budgetProfile: [30, 34],
      metric: 'rouge1',
      metrics: { exact: 0, rouge1: 0.5 },
    }),
    'replaced',
  );
  assert.equal(s.hasEvaluation(key), true);
  assert.equal(s.insertEvaluation({ ...key, score: 0.9, status: 'ok', attempt: 3 }), 'kept');
  assert.equal(s.insertEvaluation({ ...key, score: null, status: 'failed', attempt: 4 }), 'kept');
  const rows = s.evaluationsForRun(run.id);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].score, 0.5);
  assert.equal(rows[0].attempt, 2);
  assert.deepEqual(rows[0].budgetProfile, [30, 34]);
  assert.deepEqual(rows[0].metrics, { exact: 0, rouge1: 0.5 });
  assert.equal(rows[0].error, null); // the failed attempt's error went with it
  assert.equal(rows[0].task, 'needle');
  assert.deepEqual(s.completedEvaluationKeys(run.id), new Set([evaluationKeyString(key)]));
  // Another setting is another key.
  assert.equal(s.insertEvaluation({ ...key, setting: 'question-agnostic', score: 0.1, status: 'ok' }), 'inserted');
  assert.equal(s.evaluationsForRun(run.id).length, 2);
  s.close();
});

test('results: method × budget × task means and quality loss vs full, by hand', () => {
  const s = Store.open(tempDb());
  const run = s.createRun(newRun());
  const [a1, a2, a3] = sampleIds(s, run.id, 'A', 3);
  const [b1, b2] = sampleIds(s, run.id, 'B', 2);
  const qa = 'question-aware';
  const put = (sampleId: number, method: string, budget: string, score: number | null, extra: object = {}) =>
    s.insertEvaluation({ runId: run.id, sampleId, method, budget, setting: qa, score, status: score === null ? 'failed' : 'ok', ...extra });
  // Task A: full fails on a3.
  put(a1!, 'full', 'full', 0.8);
  put(a2!, 'full', 'full', 0.6);
  put(a3!, 'full', 'full', null);
  put(a1!, 'snapkv', '32', 0.4, { kvEntries: 100, kvBytes: 1000, budgetTokens: 32 });
  put(a2!, 'snapkv', '32', 0.6, { kvEntries: 100, kvBytes: 1000, budgetTokens: 32 });
  put(a3!, 'snapkv', '32', 0.2, { kvEntries: 130, kvBytes: 1600, budgetTokens: 32 });
  put(a1!, 'snapkv', 'keep=0.2', 0.7, { budgetTokens: 20 });
  // Task B.
  put(b1!, 'full', 'full', 1.0);
  put(b2!, 'full', 'full', 0.0);
  put(b1!, 'snapkv', '32', 0.5, { budgetTokens: 32 });
  put(b2!, 'snapkv', '32', 0.5, { budgetTokens: 32 });

  const rows = runResults(s, run.id);
  const pick = (m: string, b: string, t: string) => rows.find((r) => r.method === m && r.budget === b && r.task === t)!;
  assert.deepEqual(
    rows.map((r) => `${r.method}/${r.budget}/${r.task}`),
    ['full/full/A', 'full/full/B', 'snapkv/keep=0.2/A', 'snapkv/32/A', 'snapkv/32/B'],
  );
  const fullA = pick('full', 'full', 'A');
  assert.equal(fullA.n, 2);
  assert.equal(fullA.failed, 1);
  assert.ok(Math.abs(fullA.meanScore! - 0.7) < 1e-12);
  assert.equal(fullA.qualityLoss, 0);
  const snapA = pick('snapkv', '32', 'A');
  assert.equal(snapA.n, 3);
  assert.ok(Math.abs(snapA.meanScore! - 0.4) < 1e-12); // (0.4 + 0.6 + 0.2) / 3
  assert.equal(snapA.meanKvEntries, 110);
  assert.equal(snapA.meanKvBytes, 1200);
  assert.ok(Math.abs(snapA.fullScore! - 0.7) < 1e-12);
  // Paired on a1, a2 (full failed on a3): 1 − ((0.4 + 0.6)/2) / ((0.8 + 0.6)/2) = 1 − 0.5/0.7
  assert.ok(Math.abs(snapA.qualityLoss! - (1 - 0.5 / 0.7)) < 1e-12);
  assert.ok(Math.abs(pick('snapkv', 'keep=0.2', 'A').qualityLoss! - (1 - 0.7 / 0.8)) < 1e-12);
  assert.equal(pick('snapkv', 'keep=0.2', 'A').meanBudgetTokens, 20);
  const snapB = pick('snapkv', '32', 'B');
  assert.equal(snapB.meanScore, 0.5);
  assert.equal(snapB.qualityLoss, 0); // 1 − 0.5/0.5

  const avg = averageResults(runResults(s, run.id)).find((r) => r.method === 'snapkv' && r.budget === '32')!;
  assert.equal(avg.tasks, 2);
  assert.ok(Math.abs(avg.meanScore! - 0.45) < 1e-12);
  assert.ok(Math.abs(avg.qualityLoss! - (1 - 0.5 / 0.7) / 2) < 1e-12);
  s.close();
});

test('quality loss is null without a full evaluation or when full scores 0', () => {
  const s = Store.open(tempDb());
  const run = s.createRun(newRun());
  const [x, y] = sampleIds(s, run.id, 'A', 2);
  const qa = 'question-aware';
  s.insertEvaluation({ runId: run.id, sampleId: x!, method: 'h2o', budget: '8', setting: qa, score: 0.3, status: 'ok' });
  s.insertEvaluation({ runId: run.id, sampleId: y!, method: 'full', budget: 'full', setting: qa, score: 0, status: 'ok' });
  s.insertEvaluation({ runId: run.id, sampleId: y!, method: 'h2o', budget: '16', setting: qa, score: 0, status: 'ok' });
  const rows = runResults(s, run.id);
  assert.equal(rows.find((r) => r.budget === '8')!.qualityLoss, null); // no full on x
  assert.equal(rows.find((r) => r.budget === '16')!.qualityLoss, null); // full scored 0
  s.close();
});

test('a transaction that throws leaves nothing behind', () => {
  const s = Store.open(tempDb());
  const run = s.createRun(newRun({ kind: 'search' }));
  const [sid] = sampleIds(s, run.id, 'A', 1);
  assert.throws(
    () =>
      s.transaction(() => {
        s.insertEvaluation({ runId: run.id, sampleId: sid!, method: 'full', budget: 'full', setting: 'q', score: 1, status: 'ok' });
        s.recordPrefill({ runId: run.id, modelHash: 'm', contentHash: 'c', setting: 'q', window: 1, tokens: 1, ms: 1 });
        throw new Error('worker died');
      }),
    /worker died/,
  );
  assert.equal(s.evaluationsForRun(run.id).length, 0);
  assert.equal(s.prefillCount(run.id), 0);
  // saveGeneration whose last candidate breaks the unique key stores no part of the generation.
  assert.throws(
    () =>
      s.saveGeneration({ runId: run.id, group: 0, generation: 0, optimizerState: {}, bestFitness: 1, medianFitness: 1 }, [
        { index: 0, budgets: [1, 2], fitness: 1, taskScore: 1, cacheScore: 1 },
        { index: 1, budgets: [2, 1], fitness: 1, taskScore: 1, cacheScore: 1 },
        { index: 1, budgets: [2, 1], fitness: 1, taskScore: 1, cacheScore: 1 },
      ]),
    /UNIQUE constraint failed/,
  );
  assert.equal(s.generations(run.id).length, 0);
  assert.equal((s.db.prepare('SELECT COUNT(*) AS n FROM candidates').get() as { n: number }).n, 0);
  s.close();
});

test('search: generations with candidates and optimiser state survive reopening; resume reads the latest', () => {
  const path = tempDb();
  let s = Store.open(path);
  const run = s.createRun(newRun({ kind: 'search', configHash: 'search-h' }));
  const state = (g: number) => ({
    mean: [1 + g, 2],
    sigma: 0.3 / (g + 1),
    C: [
      [1, 0],
      [0, 1],
    ],
    rng: [g, 7],
  });
  for (const [group, generation] of [
    [0, 0],
    [0, 1],
    [1, 0],
  ] as const) {
    s.saveGeneration(
      {
        runId: run.id,
        group,
        generation,
        optimizerState: state(generation + 10 * group),
        searchState: { best: group },
        bestFitness: 0.5 + group + generation / 10,
        medianFitness: 0.4,
        bestCandidate: 1,
        heldoutScore: 0.3,
        wallMs: 12,
      },
      [
        { index: 0, budgets: [30, 34], fitness: 0.4, taskScore: 0.4, cacheScore: 1, sampleScores: { '1': 0.4 } },
        { index: 1, budgets: [28, 36], fitness: 0.5 + group + generation / 10, taskScore: 0.5, cacheScore: 0.99 },
        { index: 1, split: 'heldout', budgets: [28, 36], fitness: null, taskScore: 0.3, cacheScore: null },
      ],
    );
  }
  assert.throws(() => s.saveGeneration({ runId: run.id, group: 1, generation: 0, optimizerState: {}, bestFitness: 0, medianFitness: 0 }, []), {
    message: `run ${run.id}: generation 0 of group 1 is already stored`,
  });
  s.close();

  s = Store.open(path);
  const last = s.loadLatestGeneration(run.id)!;
  assert.equal(last.group, 1);
  assert.equal(last.generation, 0);
  assert.deepEqual(last.optimizerState, state(10));
  assert.deepEqual(last.searchState, { best: 1 });
  assert.equal(last.candidates.length, 3);
  assert.deepEqual(last.candidates[0].sampleScores, { '1': 0.4 });
  assert.deepEqual(
    last.candidates.map((c) => [c.index, c.split]),
    [
      [0, 'calibration'],
      [1, 'calibration'],
      [1, 'heldout'],
    ],
  );
  assert.deepEqual(
    s.generations(run.id).map((g) => [g.group, g.generation, g.heldoutScore]),
    [
      [0, 0, 0.3],
      [0, 1, 0.3],
      [1, 0, 0.3],
    ],
  );
  const best = s.bestCandidate(run.id)!;
  assert.deepEqual(best.budgets, [28, 36]);
  assert.equal(best.fitness, 1.5);
  assert.equal(s.listRuns()[0].bestFitness, 1.5);
  assert.equal(s.listRuns()[0].generations, 3);
  assert.equal(s.loadLatestGeneration(999), null);

  s.saveProfile({ runId: run.id, budget: 32, budgets: [28, 36], source: 'search', fitness: 1.5, heldoutScore: 0.3 });
  s.saveProfile({ runId: run.id, budget: 64, budgets: [56, 72], source: 'transfer' });
  s.saveProfile({ runId: run.id, budget: 64, budgets: [58, 70], source: 'transfer' });
  assert.deepEqual(
    s.profiles(run.id).map((p) => [p.budget, p.budgets, p.source]),
    [
      [32, [28, 36], 'search'],
      [64, [58, 70], 'transfer'],
    ],
  );
  s.close();
});

test('v3: per-head budgets and secondary metrics of an evaluation round-trip; results average the metrics', () => {
  const s = Store.open(tempDb());
  const run = s.createRun(newRun());
  const [a, b] = sampleIds(s, run.id, 'continuation', 2);
  const row = (sampleId: number, kl: number) => ({
    runId: run.id,
    sampleId,
    method: 'adakv',
    budget: '8',
    setting: 'question-agnostic',
    score: 0.5,
    status: 'ok' as const,
    headBudgets: [
      [6, 10],
      [8, 8],
    ],
    metrics: { kl, top1: 1 },
  });
  s.insertEvaluation(row(a!, 0.1));
  s.insertEvaluation(row(b!, 0.3));
  const stored = s.evaluationsForRun(run.id);
  assert.deepEqual(
    stored.map((e) => e.headBudgets),
    [
      [
        [6, 10],
        [8, 8],
      ],
      [
        [6, 10],
        [8, 8],
      ],
    ],
  );
  const [res] = runResults(s, run.id);
  assert.ok(Math.abs(res!.metrics.kl! - 0.2) < 1e-12);
  assert.equal(res!.metrics.top1, 1);
  s.close();
});

test('a read-only open has no write methods, and SQLite refuses writes on its connection too', () => {
  const path = tempDb();
  const w = Store.open(path);
  w.createRun(newRun());
  w.close();
  const r = Store.openReadOnly(path);
  assert.ok(!(r instanceof Store) && !('insertEvaluation' in r));
  assert.equal(r.getRun('latest').status, 'running');
  assert.throws(() => (r as SqliteReadOnlyStorage).db.prepare(`UPDATE runs SET status = 'complete'`).run(), { code: 'SQLITE_READONLY' });
  r.close();
  assert.equal(Store.open(path, { mustExist: true }).getRun('latest').status, 'running');
});
