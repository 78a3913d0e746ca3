// The shipped tiny retrieval model (models/tiny, trained by scripts/train-tiny) loaded through the Hugging Face
// loader: its spec and tokenizer are what the training script wrote, and with the full cache it answers the
// held-out retrieval samples (datasets/retrieval/retrieval.jsonl) by greedy decoding, checked with the
// independent naive forward (test/reference/naive-llama.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { naiveForward } from '../reference/naive-llama.ts';

const root = new URL('../../', import.meta.url).pathname;
const modelDir = join(root, 'models/tiny');
const dataPath = join(root, 'datasets/retrieval/retrieval.jsonl');

interface Sample {
  id: string;
  context: string;
  question: string;
  answers: string[];
  kind: string;
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

test('models/tiny loads as a Llama GQA model with its word-level tokenizer, within 8 MB', async () => {
  const bytes = readdirSync(modelDir).reduce((n, f) => n + statSync(join(modelDir, f)).size, 0);
  assert.ok(bytes <= 8 * 1024 * 1024, `models/tiny holds ${bytes} bytes`);
  const m = await loadModel(modelDir);
  const s = m.spec;
  assert.equal(s.architecture, 'llama');
  assert.equal(s.rope, 'half');
  assert.equal(s.numHeads, 4);
  assert.equal(s.numKvHeads, 2);
  assert.equal(s.headDim % 16, 0, 'head size a multiple of 16 (ORT GQA kernels)');
  assert.ok(s.maxPositionEmbeddings >= 512);
  assert.equal(s.tieWordEmbeddings, true);
  assert.equal(m.weights.lmHead, null);
  const tok = m.tokenizer;
  assert.ok(tok);
  assert.equal(tok.vocabSize, s.vocabSize);
  assert.equal(tok.bosId, s.bosTokenId);
  assert.equal(tok.eosId, s.eosTokenId);
  // every word of the held-out text is in the vocabulary: one id per word, no <unk> (id 3), round trip exact
  const sample = JSON.parse(readFileSync(dataPath, 'utf8').split('\n')[0]) as Sample;
  const words = `${sample.context} ${sample.question} ${sample.answers[0]}`.split(' ');
  const ids = tok.encode(words.join(' '));
  assert.equal(ids.length, words.length);
  assert.ok(!ids.includes(3), 'no <unk>');
  assert.equal(tok.decode(ids), words.join(' '));
  assert.deepEqual(tok.encode('a', { addBos: true })[0], s.bosTokenId);
});

// The full 100-sample file gives 0.98 with PyTorch (scripts/train-tiny/eval_heldout.py); 12 samples keep this fast.
test('full cache: greedy answers match on held-out retrieval samples at full context (naive reference)', async (t) => {
  const m = await loadModel(modelDir);
  const tok = m.tokenizer!;
  const eos = m.spec.eosTokenId!;
  const samples = readFileSync(dataPath, 'utf8')
    .trim()
    .split('\n')
    .slice(0, 12)
    .map((l) => JSON.parse(l) as Sample);
  assert.deepEqual(new Set(samples.map((s) => s.kind)).size, 4, 'all four kinds are checked (3 samples each)');
  let correct = 0;
  const wrong: string[] = [];
  for (const s of samples) {
    const prompt = [...tok.encode(s.context, { addBos: true }), ...tok.encode(s.question)];
    assert.ok(prompt.length >= 500 && prompt.length <= m.spec.maxPositionEmbeddings, `${s.id}: ${prompt.length} tokens`);
    const answer = tok.encode(s.answers[0]);
    // Greedy decoding yields exactly `answer` then </s> iff, with the answer fed in (teacher forcing), the argmax
    // after the prompt and after each answer token is the next answer token and finally </s>: one forward
    // pass checks the whole greedy continuation.
    const out = naiveForward(m.spec, m.weights, [...prompt, ...answer]);
    const expected = [...answer, eos];
    const got = expected.map((_, i) => argmax(out.logits[prompt.length - 1 + i]));
    if (got.every((t, i) => t === expected[i])) correct++;
    else wrong.push(`${s.id} (${s.kind}): expected "${s.answers[0]}", argmax ids ${got.join(' ')} ("${tok.decode(got)}")`);
  }
  const acc = correct / samples.length;
  t.diagnostic(`full-cache greedy exact match ${correct}/${samples.length}`);
  assert.ok(acc >= 0.8, `accuracy ${acc} on ${samples.length} samples; wrong: ${wrong.join('; ')}`);
});
