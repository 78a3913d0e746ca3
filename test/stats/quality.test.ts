import { test } from 'node:test';
import assert from 'node:assert/strict';
import { averageResults, qualityLoss, runResults } from '../../src/stats/quality.ts';
import { Store } from '../../src/store/store.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';
import type { ResultRow, StoredEvaluation } from '../../src/store/types.ts';
import { newRun, tempDb } from '../store/helpers.ts';

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/** The table computed naively from the stored rows, cell by cell, as the ResultRow docs define it. */
function naiveTable(evals: readonly StoredEvaluation[]): Map<string, Omit<ResultRow, 'method' | 'budget' | 'setting' | 'task'>> {
  const cells = new Map<string, StoredEvaluation[]>();
  for (const e of evals) {
    const k = `${e.method}|${e.budget}|${e.setting}|${e.task}`;
    cells.set(k, [...(cells.get(k) ?? []), e]);
  }
  const fullScore = (sampleId: number, setting: string) =>
    mean(
      evals
        .filter((e) => e.method === 'full' && e.sampleId === sampleId && e.setting === setting && e.status === 'ok' && e.score !== null)
        .map((e) => e.score as number),
    );
  const out = new Map<string, Omit<ResultRow, 'method' | 'budget' | 'setting' | 'task'>>();
  for (const [k, rows] of cells) {
    const ok = rows.filter((e) => e.status === 'ok');
    const nums = (f: (e: StoredEvaluation) => number | null) => ok.map(f).filter((v): v is number => v !== null);
    const paired = ok.filter((e) => e.score !== null && fullScore(e.sampleId, e.setting) !== null);
    const pairedScore = mean(paired.map((e) => e.score as number));
    const full = mean(paired.map((e) => fullScore(e.sampleId, e.setting) as number));
    const metrics: Record<string, number[]> = {};
    for (const e of ok) for (const [name, v] of Object.entries(e.metrics ?? {})) metrics[name] = [...(metrics[name] ?? []), v];
    out.set(k, {
      n: ok.length,
      failed: rows.length - ok.length,
      meanScore: mean(nums((e) => e.score)),
      meanBudgetTokens: mean(nums((e) => e.budgetTokens)),
      meanKvEntries: mean(nums((e) => e.kvEntries)),
      meanKvBytes: mean(nums((e) => e.kvBytes)),
      fullScore: full,
      qualityLoss: full === null || pairedScore === null || full === 0 ? null : 1 - pairedScore / full,
      metrics: Object.fromEntries(Object.entries(metrics).map(([name, vs]) => [name, mean(vs) as number])),
    });
  }
  return out;
}

const close = (a: number | null, b: number | null, what: string) => {
  if (a === null || b === null) assert.equal(a, b, what);
  else assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
};

test('runResults and averageResults agree with the table computed naively from the stored rows', () => {
  const s = Store.open(tempDb());
  const run = s.createRun(newRun());
  const r = mulberry32(15);
  const tasks = ['A', 'B', 'C'];
  const ids = new Map(
    tasks.map((t) => [
      t,
      s.registerSamples(
        run.id,
        Array.from({ length: 9 }, (_, i) => ({ task: t, key: String(i), contentHash: `${t}${i}`, split: 'eval' as const })),
      ),
    ]),
  );
  const methods: [string, string][] = [
    ['full', 'full'],
    ['snapkv', '16'],
    ['snapkv', 'keep=0.2'],
    ['h2o', '16'],
  ];
  for (const setting of ['question-aware', 'question-agnostic']) {
    for (const t of tasks) {
      for (const sampleId of ids.get(t) ?? []) {
        for (const [method, budget] of methods) {
          const u = r();
          if (u < 0.05) continue; // never evaluated
          const failed = u < 0.15;
          // Task C's full cache scores 0 on every sample: its quality loss is undefined.
          const score = failed ? null : t === 'C' && method === 'full' ? 0 : r() < 0.05 ? null : Math.round(r() * 1000) / 997;
          s.insertEvaluation({
            runId: run.id,
            sampleId,
            method,
            budget,
            setting,
            score,
            status: failed ? 'failed' : 'ok',
            error: failed ? 'oom' : null,
            budgetTokens: budget === 'full' ? 100 + sampleId : budget === '16' ? 16 : Math.round(20 + 10 * r()),
            kvEntries: Math.round(1000 * r()),
            kvBytes: r() < 0.1 ? null : Math.round(1e6 * r()),
            metrics: r() < 0.3 ? null : { loglik: -r() * 3, top1: r() < 0.5 ? 0 : 1 },
          });
        }
      }
    }
  }
  const evals = s.evaluationsForRun(run.id);
  const naive = naiveTable(evals);
  const rows = runResults(s, run.id);
  assert.deepEqual(rows, runResults(s, run.id, evals)); // the same with the rows passed in
  assert.equal(rows.length, naive.size);
  assert.ok(rows.slice(0, 6).every((x) => x.method === 'full')); // full first
  let losses = 0;
  for (const row of rows) {
    const want = naive.get(`${row.method}|${row.budget}|${row.setting}|${row.task}`);
    assert.ok(want, `${row.method} ${row.budget} ${row.setting} ${row.task}`);
    const what = `${row.method}/${row.budget}/${row.setting}/${row.task}`;
    assert.equal(row.n, want.n, what);
    assert.equal(row.failed, want.failed, what);
    for (const f of ['meanScore', 'meanBudgetTokens', 'meanKvEntries', 'meanKvBytes', 'fullScore', 'qualityLoss'] as const)
      close(row[f], want[f], `${what} ${f}`);
    assert.deepEqual(Object.keys(row.metrics).sort(), Object.keys(want.metrics).sort(), what);
    for (const name of Object.keys(want.metrics)) close(row.metrics[name], want.metrics[name], `${what} ${name}`);
    if (row.task === 'C') assert.equal(row.qualityLoss, null, what);
    else if (row.qualityLoss !== null) losses++;
  }
  assert.ok(losses >= 16, 'quality loss was computed for the cells of A and B');

  // Averages over tasks: each task weighs the same, tasks without a quality loss are left out.
  const averages = averageResults(rows);
  for (const a of averages) {
    const cells = rows.filter((x) => x.method === a.method && x.budget === a.budget && x.setting === a.setting);
    assert.equal(a.tasks, cells.length);
    close(a.meanScore, mean(cells.map((x) => x.meanScore).filter((v): v is number => v !== null)), 'average score');
    close(a.qualityLoss, mean(cells.map((x) => x.qualityLoss).filter((v): v is number => v !== null)), 'average loss');
  }
  assert.equal(averages.length, methods.length * 2);
  s.close();
});

test('qualityLoss: 1 − paired/full, undefined without a full score or when full scores 0', () => {
  assert.equal(qualityLoss(0.5, 0.8), 1 - 0.5 / 0.8);
  assert.equal(qualityLoss(0.5, null), null);
  assert.equal(qualityLoss(null, 0.8), null);
  assert.equal(qualityLoss(0.5, 0), null);
});
