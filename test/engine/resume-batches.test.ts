// A resumed eval must reproduce an uninterrupted one exactly, so it re-runs every decode batch that holds a
// pending item, whole: batch composition sets the padded cache length and the position of the decoded tokens,
// and with them the float rounding. Here an interruption is made exact and in process: an uninterrupted run's
// database is copied, one stored evaluation deleted and the run marked unfinished, and `--resume` must then
// give every stored score bit for bit (the continuation task scores exp(mean log p), full float precision).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadExperiment } from '../../src/config/load.ts';
import { runEval } from '../../src/engine/eval-run.ts';
import { Store } from '../../src/store/store.ts';
import { writeStoriesEval } from '../helpers/stories-eval.ts';

function config(dir: string, db: string) {
  const file = writeStoriesEval(dir, {
    name: 'resume-batches',
    file: db,
    samples: 2,
    seed: 5,
    contextTokens: 120,
    questionTokens: 8,
    continuationTokens: 12,
    settings: ['question-agnostic'],
    methods: ['streaming', 'snapkv'],
    budgets: [0.1, 0.5],
    window: 16,
    db: join(dir, db, 'k.db'),
  });
  mkdirSync(join(dir, db), { recursive: true });
  return loadExperiment(file);
}

const scores = (db: string) =>
  (
    new Database(db, { readonly: true })
      .prepare('SELECT s.sample_key AS k, e.method, e.budget, e.score FROM evaluations e JOIN samples s ON s.id = e.sample_id ORDER BY 1, 2, 3')
      .all() as {
      k: string;
      method: string;
      budget: string;
      score: number;
    }[]
  ).map((r) => `${r.k} ${r.method} ${r.budget} ${r.score}`);

test('eval --resume re-runs whole decode batches: every score equals the uninterrupted run bit for bit', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-resume-batches-'));
  // plan per sample: full, streaming 0.1, streaming 0.5, snapkv 0.1, snapkv 0.5 → batches of 3: [full, streaming ×2], [snapkv ×2]
  const a = await runEval(config(dir, 'a'), { quiet: true, batch: 3 });
  assert.equal(a.evaluations, 10);
  const reference = scores(join(dir, 'a', 'k.db'));

  // The interruption: streaming keep=0.1 (the shortest cache, batched with full's whole prompt) of one sample lost.
  mkdirSync(join(dir, 'b'));
  copyFileSync(join(dir, 'a', 'k.db'), join(dir, 'b', 'k.db'));
  const d = new Database(join(dir, 'b', 'k.db'));
  const lost = d
    .prepare(`DELETE FROM evaluations WHERE method = 'streaming' AND budget = 'keep=0.1' AND sample_id = (SELECT MIN(sample_id) FROM evaluations)`)
    .run();
  assert.equal(lost.changes, 1);
  d.prepare(`UPDATE runs SET status = 'interrupted', finished_at = NULL`).run();
  d.close();

  const b = await runEval(config(dir, 'b'), { quiet: true, batch: 3, resume: true });
  assert.equal(b.run.status, 'complete');
  assert.equal(b.evaluations, 10);
  assert.deepEqual(scores(join(dir, 'b', 'k.db')), reference);
  const s = Store.open(join(dir, 'b', 'k.db'));
  assert.equal(s.listRuns().length, 1, 'the resumed run is the same run');
  s.close();
});
