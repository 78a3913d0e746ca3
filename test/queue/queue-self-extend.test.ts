// SelfExtend through the queue: each job carries its task's model.self_extend variant, so `kvopt worker`
// processes run the extended model exactly like the local pool (a 1k prompt on models/tiny: without the variant
// the worker would cut it to the 512-token context and score differently).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../engine/cli-run.ts';
import { redisCli, run, startWorker, stop } from './helpers.ts';

const DB = 13;
const QUEUE = `redis://127.0.0.1:6379/${DB}`;

test('queued eval with SelfExtend variants equals the local run', { timeout: 600_000 }, async () => {
  redisCli(['-n', String(DB), 'FLUSHDB']);
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-queue-se-'));
  const env = { KVOPT_CACHE_DIR: join(dir, 'cache') };
  const cfg = join(dir, 'se.yaml');
  writeFileSync(
    cfg,
    `name: queue-se
model:
  path: ${join(repoRoot, 'models/tiny')}
  threads: 1
  self_extend: [off, {group: 8, window: 128}]
tasks:
  - name: retrieval
    data: ${join(repoRoot, 'datasets/retrieval-long/retrieval-1k.jsonl')}
    samples: 3
    seed: 4
setting: question-agnostic
methods: [full, snapkv]
budgets: [0.2]
window: 32
chunk_size: 512
workers: 1
`,
  );
  const rows = (file: string) =>
    (JSON.parse(readFileSync(file, 'utf8')).rows as { task: string; method: string; meanScore: number; meanBudgetTokens: number; meanKvBytes: number }[])
      .map(({ task, method, meanScore, meanBudgetTokens, meanKvBytes }) => ({ task, method, meanScore, meanBudgetTokens, meanKvBytes }))
      .sort((a, b) => (a.task + a.method).localeCompare(b.task + b.method));
  const local = await run(['eval', '--config', cfg, '--db', join(dir, 'local', 'k.db'), '--json', join(dir, 'local.json'), '--quiet'], env);
  assert.equal(local.status, 0, local.output);
  const expected = rows(join(dir, 'local.json'));
  const full = (task: string) => expected.find((r) => r.task === task && r.method === 'full')!;
  assert.ok(full('retrieval+selfextend(G=8,W=128)').meanBudgetTokens > 900, 'the extended model reads the whole 1k prompt');
  assert.ok(full('retrieval').meanBudgetTokens < 512, 'the plain model reads it cut to its context');

  const w = await startWorker(QUEUE, ['--name', 'wSE'], env);
  try {
    const q = await run(['eval', '--config', cfg, '--db', join(dir, 'q', 'k.db'), '--queue', QUEUE, '--json', join(dir, 'q.json'), '--quiet'], env);
    assert.equal(q.status, 0, q.output);
    assert.deepEqual(rows(join(dir, 'q.json')), expected);
  } finally {
    await stop(w);
  }
});
