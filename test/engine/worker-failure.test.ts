// A sample whose worker task throws is stored as failed with its error and retried once; the run goes on,
// ends 'failed' with exit code 2 naming how many evaluations failed, and --resume re-runs just those.
// The failure is injected in the worker (KVOPT_FAULT_INJECT) so that everything else is real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/store.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';
import { kvopt } from './cli-run.ts';

test('a failing sample is retried once, recorded as failed when it fails again; exit 2; --resume re-runs the failed items', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-fail-'));
  const data = join(dir, 'samples.jsonl');
  const line = (id: string, key: string) =>
    JSON.stringify({
      id,
      context: `Once upon a time, a girl named Lily had a ${key} ball. She played with it all day.`,
      question: ' Lily had a',
      answers: [key],
      metric: 'substring_match',
      max_new_tokens: 4,
    });
  writeFileSync(data, [line('flaky', 'red'), line('broken', 'blue'), line('fine', 'green')].join('\n') + '\n');
  const config = join(dir, 'exp.yaml');
  writeFileSync(
    config,
    `name: failure-test
model:
  path: ${sharedDataPath('stories260K', 'stories260K.bin')}
  tokenizer: ${sharedDataPath('stories260K', 'tok512.bin')}
tasks:
  - { name: passkey, data: ${data} }
methods: [snapkv]
budgets: [16]
workers: 1
`,
  );
  const db = join(dir, 'k.db');
  const r = kvopt(['eval', '--config', config, '--db', db, '--quiet'], { KVOPT_FAULT_INJECT: 'flaky:first,broken:always' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /kvopt: 2 of 6 evaluations failed .*--resume/);
  assert.match(r.stderr, /sample flaky failed: injected fault .* attempt 1/);
  assert.match(r.stderr, /sample broken failed: injected fault .* attempt 2/);
  assert.match(r.stdout, /\(\+1 failed\)/);

  let store = Store.open(db);
  const run = store.getRun('latest');
  assert.equal(run.status, 'failed');
  assert.equal(run.error, '2 evaluations failed');
  const evals = store.evaluationsForRun(run.id);
  const of = (key: string) => evals.filter((e) => e.sampleKey === key);
  assert.equal(evals.length, 6); // 3 samples × (full, snapkv@16)
  for (const e of of('flaky')) assert.deepEqual([e.status, e.attempt], ['ok', 2]);
  for (const e of of('broken')) {
    assert.deepEqual([e.status, e.attempt], ['failed', 2]);
    assert.match(e.error!, /injected fault/);
  }
  for (const e of of('fine')) assert.deepEqual([e.status, e.attempt], ['ok', 1]);
  const okBefore = evals.filter((e) => e.status === 'ok').map((e) => [e.sampleKey, e.method, e.score, e.createdAt]);
  store.close();

  // The cause is gone: --resume re-runs only the failed items, keeps the others as they are, and completes.
  const again = kvopt(['eval', '--config', config, '--db', db, '--quiet', '--resume']);
  assert.equal(again.status, 0, again.stderr);
  store = Store.open(db);
  assert.equal(store.getRun(run.id).status, 'complete');
  const after = store.evaluationsForRun(run.id);
  assert.equal(after.length, 6);
  assert.ok(after.every((e) => e.status === 'ok'));
  assert.deepEqual(
    after.filter((e) => e.sampleKey !== 'broken').map((e) => [e.sampleKey, e.method, e.score, e.createdAt]),
    okBefore,
  );
  store.close();
  // Nothing left to do: --resume says so and succeeds.
  const done = kvopt(['eval', '--config', config, '--db', db, '--quiet', '--resume']);
  assert.equal(done.status, 0);
  assert.match(done.stderr, /already complete; nothing to resume/);
});
