// The label-free fitness modes searches use by default, end to end through the engine (worker pool, prefill,
// compression, batched decode, store), against scores computed independently with the naive float64 reference
// model (test/reference/naive-llama.ts). An evicted entry is a key hidden from every query after the prefill;
// StreamingLLM's kept set (the first `sinks` and the most recent B − sinks prefill tokens) is written out here.
//   likelihood: exp(mean_t log p(answer_t | prompt, answer_<t)), for a task with a gold answer;
//   fidelity:   mean_t [argmax of the compressed-cache logits = argmax of the full-cache logits] over a continuation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadExperiment } from '../../src/config/load.ts';
import { runEval } from '../../src/engine/eval-run.ts';
import { loadModel } from '../../src/model/load.ts';
import { Store } from '../../src/store/store.ts';
import { loadContinuation } from '../../src/tasks/continuation.ts';
import { naiveForward } from '../reference/naive-llama.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';
import { repoRoot } from './cli-run.ts';

const MODEL = sharedDataPath('stories260K', 'stories260K.bin');
const TOKENIZER = sharedDataPath('stories260K', 'tok512.bin');
const SINKS = 4;
const BUDGET = 20;

function experiment(dir: string, name: string, body: string) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}\nmodel:\n  path: ${MODEL}\n  tokenizer: ${TOKENIZER}\n${body}methods: [streaming]\nbudgets: [${BUDGET}]\nwindow: 8\nworkers: 1\ndb: ${join(dir, `${name}.db`)}\n`,
  );
  return loadExperiment(file);
}

/** Stored (sample key, setting, method) → score. */
function storedScores(db: string): Map<string, number> {
  const s = Store.open(db);
  const run = s.getRun('latest');
  const keys = new Map(s.samplesForRun(run.id).map((x) => [x.id, x.key]));
  const out = new Map(s.evaluationsForRun(run.id).map((e) => [`${keys.get(e.sampleId)} ${e.setting} ${e.method}`, e.score as number]));
  s.close();
  return out;
}

/** Keys StreamingLLM keeps of a prefill of length P at budget B: visible(t, s) for the naive model. */
const streamingVisible = (P: number, B: number) => (t: number, s: number) => t < P || s >= P || s < SINKS || s >= P - (B - SINKS);

const logSoftmaxAt = (row: Float32Array, i: number) => {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return row[i] - max - Math.log(sum);
};
const argmax = (row: Float32Array) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);

test('likelihood fitness: stored scores equal exp(mean log p(gold answer)) of the naive model, full and StreamingLLM caches, both settings', {
  timeout: 300_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-fitness-likelihood-'));
  const samples = [
    {
      id: 'a',
      context: 'Once upon a time there was a little girl named Lily. She loved to play outside in the park with her dog.',
      question: ' One day Lily saw a',
      answers: ['big red ball'],
    },
    {
      id: 'b',
      context: 'Tom had a blue car. He drove it to the shop every day. The shop sold cakes and milk.',
      question: ' Tom liked to buy',
      answers: ['cake'],
    },
  ];
  writeFileSync(join(dir, 'qa.jsonl'), samples.map((s) => JSON.stringify({ ...s, metric: 'substring_match', max_new_tokens: 4 })).join('\n') + '\n');
  const config = experiment(dir, 'likelihood', `tasks:\n  - name: passkey\n    data: ${join(dir, 'qa.jsonl')}\nsetting: [question-aware, question-agnostic]\n`);
  const result = await runEval(config, { quiet: true, fitness: 'likelihood' });
  assert.equal(result.failed, 0);
  const stored = storedScores(config.db);
  assert.equal(stored.size, samples.length * 2 * 2);

  const model = await loadModel(MODEL, { tokenizer: TOKENIZER });
  const tok = model.tokenizer!;
  for (const s of samples) {
    const ctx = tok.encode(s.context, { addBos: true });
    const q = tok.encode(s.question, { addBos: false });
    const ans = tok.encode(` ${s.answers[0]}`, { addBos: false });
    const tokens = [...ctx, ...q, ...ans.slice(0, -1)];
    for (const setting of ['question-aware', 'question-agnostic'] as const) {
      const P = setting === 'question-aware' ? ctx.length + q.length : ctx.length;
      for (const [method, visible] of [
        ['full', undefined],
        ['streaming', streamingVisible(P, BUDGET)],
      ] as const) {
        const { logits } = naiveForward(model.spec, model.weights, tokens, undefined, visible);
        const at = ctx.length + q.length - 1; // the row that predicts ans[0]
        const mean = ans.reduce((a, id, i) => a + logSoftmaxAt(logits[at + i], id), 0) / ans.length;
        const got = stored.get(`${s.id} ${setting} ${method}`)!;
        assert.ok(Math.abs(got - Math.exp(mean)) <= 1e-4 * Math.exp(mean), `${s.id} ${setting} ${method}: stored ${got}, naive ${Math.exp(mean)}`);
      }
    }
    // the compressed cache really changed the score (the check above is not full = full)
    assert.notEqual(stored.get(`${s.id} question-agnostic streaming`), stored.get(`${s.id} question-agnostic full`));
  }
});

test('fidelity fitness: stored scores equal the top-1 agreement of naive compressed-cache and full-cache logits on the continuation', {
  timeout: 300_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-fitness-fidelity-'));
  const data = join(repoRoot, 'datasets/stories260k-samples.jsonl');
  const options = { contextTokens: 48, questionTokens: 6, continuationTokens: 24 };
  const config = experiment(
    dir,
    'fidelity',
    `tasks:\n  - name: continuation\n    data: ${data}\n    samples: 3\n    seed: 2\n    options: { contextTokens: 48, questionTokens: 6, continuationTokens: 24 }\nsetting: question-agnostic\n`,
  );
  const result = await runEval(config, { quiet: true, fitness: 'fidelity' });
  assert.equal(result.failed, 0);
  const stored = storedScores(config.db);

  const model = await loadModel(MODEL, { tokenizer: TOKENIZER });
  const tok = model.tokenizer!;
  const samples = loadContinuation(data, tok, { ...options, samples: 3, seed: 2 });
  assert.equal(samples.length, 3);
  let below = 0;
  for (const s of samples) {
    const m = s.meta as { contextIds: number[]; questionIds: number[]; continuationIds: number[] };
    const ctx = [tok.bosId!, ...m.contextIds];
    const cont = m.continuationIds;
    const tokens = [...ctx, ...m.questionIds, ...cont.slice(0, -1)];
    const at = ctx.length + m.questionIds.length - 1;
    const full = naiveForward(model.spec, model.weights, tokens).logits;
    const kept = naiveForward(model.spec, model.weights, tokens, undefined, streamingVisible(ctx.length, BUDGET)).logits;
    const agree = cont.filter((_, i) => argmax(full[at + i]) === argmax(kept[at + i])).length / cont.length;
    assert.equal(stored.get(`${s.id} question-agnostic full`), 1);
    assert.equal(
      stored.get(`${s.id} question-agnostic streaming`),
      agree,
      `${s.id}: stored ${stored.get(`${s.id} question-agnostic streaming`)}, naive ${agree}`,
    );
    if (agree < 1) below++;
  }
  assert.ok(below > 0, 'at least one sample where the compressed cache changes a top-1 token');
});
