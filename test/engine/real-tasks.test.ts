// The real task files through `kvopt eval` with stories260K: the three LongBench files, GSM8K and a needle
// grid over the Paul Graham haystack load, run and are scored. Scores are low (a 260K-parameter story
// model); the point is that the whole path runs, and that each stored score is the metric of the stored
// prediction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/store.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';
import { kvopt } from './cli-run.ts';

/**
 * ROUGE-1 F as the Python `rouge` package computes it, written out independently of src/tasks/metrics: sentences
 * split on '.', empty ones dropped; words split on whitespace (a blank sentence is one empty word); DISTINCT
 * unigrams; P = |E∩R|/|E|, R = |E∩R|/|R|, F = 2PR/(P + R + 1e-8); 0 when a side has no sentence.
 */
function rouge1(prediction: string, gold: string): number {
  const unigrams = (t: string) =>
    new Set(
      t
        .split('.')
        .filter((x) => x.length > 0)
        .flatMap((x) => x.trim().split(/\s+/)),
    );
  if (!prediction.split('.').some((x) => x.length > 0) || !gold.split('.').some((x) => x.length > 0)) return 0;
  const e = unigrams(prediction);
  const r = unigrams(gold);
  const overlap = [...e].filter((w) => r.has(w)).length;
  const p = overlap / e.size;
  const rec = overlap / r.size;
  return (2 * p * rec) / (p + rec + 1e-8);
}

test('LongBench (3 files), GSM8K and a needle grid run through kvopt eval; stored scores are the metrics of stored predictions', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-real-tasks-'));
  const lb = (name: string) => `  - name: longbench/${name}\n    data: ${sharedDataPath('longbench', `${name}.jsonl`)}\n    samples: 2\n    seed: 1\n`;
  const config = join(dir, 'real.yaml');
  writeFileSync(
    config,
    `name: real-tasks
model:
  path: ${sharedDataPath('stories260K', 'stories260K.bin')}
  tokenizer: ${sharedDataPath('stories260K', 'tok512.bin')}
tasks:
${lb('multi_news')}${lb('multifieldqa_zh')}${lb('passage_retrieval_zh')}  - name: gsm8k
    data: ${sharedDataPath('gsm8k', 'test.jsonl')}
    samples: 2
    seed: 1
    options: { shots: 2, maxNewTokens: 48 }
  - name: needle
    data: ${sharedDataPath('paul_graham_essays')}
    options: { lengths: [128, 256], depths: [0, 50, 100], maxNewTokens: 16 }
setting: question-agnostic
methods: [snapkv]
budgets: [32]
window: 32
`,
  );
  const db = join(dir, 'k.db');
  const r = kvopt(['eval', '--config', config, '--db', db, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  for (const task of ['longbench/multi_news', 'longbench/multifieldqa_zh', 'longbench/passage_retrieval_zh', 'gsm8k', 'needle']) {
    assert.match(r.stdout, new RegExp(`^${task.replace('/', '\\/')}\\s+question-agnostic\\s+snapkv`, 'm'), `${task} has a result row`);
  }

  const store = Store.open(db);
  const run = store.getRun('latest');
  assert.equal(run.status, 'complete');
  const evals = store.evaluationsForRun(run.id);
  // 2 + 2 + 2 + 2 samples and a 2 × 3 needle grid, each with full and snapkv@32
  assert.equal(evals.length, (8 + 6) * 2);
  assert.deepEqual(
    evals.filter((e) => e.status !== 'ok').map((e) => e.error),
    [],
  );
  const bySample = new Map(store.samplesForRun(run.id).map((s) => [s.id, s]));
  for (const e of evals) {
    assert.ok(e.score !== null && e.score >= 0 && e.score <= 1, `${e.task} score ${e.score}`);
    assert.equal(typeof e.prediction, 'string');
    assert.ok(e.generatedTokens! >= 0);
    assert.ok(bySample.has(e.sampleId));
  }
  // The stored score is the metric of the stored (post-processed) prediction against the gold answers.
  const retrieval = evals.filter((e) => e.task === 'longbench/passage_retrieval_zh');
  assert.equal(retrieval.length, 4);
  for (const e of retrieval) assert.equal(e.metric, 'retrieval_zh');
  const needle = evals.filter((e) => e.task === 'needle');
  const answer = 'The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.';
  for (const e of needle) {
    assert.equal(e.metric, 'rouge1');
    assert.ok(
      Math.abs(e.score! - rouge1(e.prediction!, answer)) < 1e-12,
      `needle: stored ${e.score}, rouge1 ${rouge1(e.prediction!, answer)} of "${e.prediction}"`,
    );
  }
  assert.ok(
    needle.some((e) => e.score! > 0),
    'some needle predictions share words with the answer',
  );
  store.close();
});
