// CLI flags end to end (the real binary, stories260K): each flag is checked for its effect on what is stored
// or printed, not only for an exit code. Small runs: a few samples of 48-token contexts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';
import { readProfile } from '../../src/compress/profile-file.ts';
import { Store } from '../../src/store/store.ts';
import { loadContinuation } from '../../src/tasks/continuation.ts';
import { selectSamples } from '../../src/tasks/select.ts';
import { kvopt, repoRoot } from '../engine/cli-run.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';

const MODEL = sharedDataPath('stories260K', 'stories260K.bin');
const TOKENIZER = sharedDataPath('stories260K', 'tok512.bin');
const DATA = join(repoRoot, 'datasets/stories260k-samples.jsonl');
const dir = mkdtempSync(join(tmpdir(), 'kvopt-cli-flags-'));

const evalFlags = (db: string, extra: string[]) => [
  'eval',
  '--model',
  MODEL,
  '--tokenizer',
  TOKENIZER,
  '--task',
  'continuation',
  '--data',
  DATA,
  '--methods',
  'streaming,snapkv',
  '--budgets',
  '24',
  '--samples',
  '2',
  '--task-option',
  'contextTokens=48',
  '--task-option',
  'continuationTokens=8',
  '--task-option',
  'questionTokens=4',
  '--db',
  db,
  '--workers',
  '1',
  '--quiet',
  ...extra,
];

function stored(db: string) {
  const s = Store.open(db);
  const run = s.getRun('latest');
  const samples = s.samplesForRun(run.id).map((x) => x.key);
  const evals = s.evaluationsForRun(run.id);
  const prefillTokens = s.meanPrefillTokens(run.id);
  s.close();
  return { run, samples, evals, prefillTokens };
}

test('eval from flags alone: --setting, --samples, --seed, --task-option, --fitness, --no-prefill-cache and --csv take effect', {
  timeout: 300_000,
}, async () => {
  const dbA = join(dir, 'a', 'k.db');
  const csv = join(dir, 'a.csv');
  const a = kvopt(evalFlags(dbA, ['--setting', 'question-agnostic', '--seed', '4', '--fitness', 'fidelity', '--no-prefill-cache', '--csv', csv]));
  assert.equal(a.status, 0, a.stderr);
  const dbB = join(dir, 'b', 'k.db');
  const b = kvopt(evalFlags(dbB, ['--setting', 'question-aware', '--seed', '9']));
  assert.equal(b.status, 0, b.stderr);
  const ra = stored(dbA);
  const rb = stored(dbB);

  // --samples and --seed: the seeded subset of the task's samples, as the task selects it
  const tok = (await loadModel(MODEL, { tokenizer: TOKENIZER })).tokenizer!;
  const all = loadContinuation(DATA, tok, { contextTokens: 48, continuationTokens: 8, questionTokens: 4 });
  assert.deepEqual(
    [...ra.samples].sort(),
    selectSamples(all, 2, 4)
      .map((s) => s.id)
      .sort(),
  );
  assert.deepEqual(
    [...rb.samples].sort(),
    selectSamples(all, 2, 9)
      .map((s) => s.id)
      .sort(),
  );
  assert.equal(ra.run.seed, 4);

  // --setting and --task-option: agnostic prefills BOS + 48 − 4 context tokens, aware BOS + 48
  assert.deepEqual([...new Set(ra.evals.map((e) => e.setting))], ['question-agnostic']);
  assert.deepEqual([...new Set(rb.evals.map((e) => e.setting))], ['question-aware']);
  assert.equal(ra.prefillTokens, 45);
  assert.equal(rb.prefillTokens, 49);

  // --fitness: fidelity scores are top-1 agreement (full = 1), task scores on a continuation are exp(loglik)
  assert.equal(ra.evals.length, 2 * 3);
  for (const e of ra.evals) {
    assert.equal(e.score, e.metrics?.top1, `${e.method}`);
    if (e.method === 'full') assert.equal(e.score, 1);
  }
  for (const e of rb.evals) assert.ok(Math.abs(e.score! - Math.exp(e.metrics?.loglik ?? Number.NaN)) < 1e-12, `${e.method}`);

  // --no-prefill-cache: no records on disk beside the database; the default keeps them
  assert.equal(existsSync(join(dir, 'a', 'prefill-cache')), false);
  assert.equal(existsSync(join(dir, 'b', 'prefill-cache')), true);

  // --csv: a header and one row per (setting, method, budget) with the stored mean score
  const lines = readFileSync(csv, 'utf8').trim().split('\n');
  const header = lines[0].split(',');
  assert.ok(header.includes('method') && header.includes('n'), lines[0]);
  const rows = lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v])));
  assert.deepEqual(rows.map((r) => r.method).sort(), ['full', 'snapkv', 'streaming']);
  for (const r of rows) assert.equal(r.n, '2');
  const meanScore = (m: string) => ra.evals.filter((e) => e.method === m).reduce((x, e) => x + e.score!, 0) / 2;
  const scoreColumn = header.find((h) => /score/i.test(h))!;
  for (const r of rows) assert.ok(Math.abs(Number(r[scoreColumn]) - meanScore(r.method!)) < 1e-3, `${r.method} ${r[scoreColumn]}`);
});

test('search --budget sets the target; export --budget picks a stored budget; export --context-length sets kvpress ratios', { timeout: 300_000 }, () => {
  const config = join(dir, 'search.yaml');
  writeFileSync(
    config,
    `name: cli-flags-search
model:
  path: ${MODEL}
  tokenizer: ${TOKENIZER}
tasks:
  - name: continuation
    data: ${DATA}
    samples: 2
    heldout: 1
    seed: 5
    options: { contextTokens: 48, continuationTokens: 8 }
setting: question-agnostic
search:
  scorer: snapkv
  budget: 32
  group_size: 5
  generations: 1
  population: 3
  fitness: task
  seed: 3
  transfer: [12]
window: 8
workers: 1
`,
  );
  const db = join(dir, 's', 'k.db');
  const s = kvopt(['search', '--config', config, '--db', db, '--budget', '20', '--json', join(dir, 's.json'), '--quiet']);
  assert.equal(s.status, 0, s.stderr);
  const r = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'));
  const searched = r.profiles.find((p: { source: string }) => p.source === 'search');
  assert.equal(searched.budget, 20);
  assert.equal(
    searched.budgets.reduce((x: number, y: number) => x + y, 0),
    20 * 5,
    'mean 20 over 5 layers, not the file 32',
  );

  const out = join(dir, 'p12.json');
  const e = kvopt(['export', '--db', db, '--budget', '12', '--out', out]);
  assert.equal(e.status, 0, e.stderr);
  const p12 = readProfile(out);
  assert.equal(p12.target, 12);
  assert.equal(
    p12.layers.reduce((x, y) => x + y, 0),
    12 * 5,
  );
  const missing = kvopt(['export', '--db', db, '--budget', '7']);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /--budget 7: run \d+ stores budgets 20, 12|--budget 7: run \d+ stores budgets 12, 20/);

  const k = kvopt(['export', '--db', db, '--format', 'kvpress', '--context-length', '100']);
  assert.equal(k.status, 0, k.stderr);
  const ratios = JSON.parse(k.stdout) as number[];
  assert.deepEqual(
    ratios.map((x) => Math.round(100 * (1 - x))),
    searched.budgets.map((b: number) => Math.min(100, b)),
  );
  const bad = kvopt(['export', '--db', db, '--format', 'kvpress', '--context-length', 'x']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--context-length: expected a positive integer, got 'x'/);
});

test('generate --temperature samples from softmax(logits / t) as the library does with that seed', async () => {
  const r = kvopt([
    'generate',
    '--model',
    MODEL,
    '--tokenizer',
    TOKENIZER,
    '--prompt',
    'Lily saw',
    '--max-new-tokens',
    '24',
    '--temperature',
    '0.9',
    '--seed',
    '7',
    '--threads',
    '1',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const model = await loadModel(MODEL, { tokenizer: TOKENIZER });
  const rt = await ModelRuntime.create(model, { intraOpNumThreads: 1 });
  const tok = model.tokenizer!;
  const prompt = tok.encode('Lily saw', { addBos: true });
  const sampled = await rt.generate(null, prompt, { maxNewTokens: 24, temperature: 0.9, seed: 7, stopTokens: tok.eosId !== null ? [tok.eosId] : [] });
  const greedy = await rt.generate(null, prompt, { maxNewTokens: 24, stopTokens: tok.eosId !== null ? [tok.eosId] : [] });
  await rt.release();
  assert.equal(r.stdout, tok.decode(sampled.tokens) + '\n');
  assert.notEqual(tok.decode(sampled.tokens), tok.decode(greedy.tokens), 'temperature 0.9 is not greedy here');
  const bad = kvopt(['generate', '--model', MODEL, '--tokenizer', TOKENIZER, '--temperature', '-1']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--temperature must be a number >= 0, got '-1'/);
});
