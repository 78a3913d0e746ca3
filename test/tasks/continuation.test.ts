import test from 'node:test';
import assert from 'node:assert/strict';
import { meanKlDivergence, meanLogLikelihood, top1Agreement } from '../../src/tasks/metrics/logits.ts';
import { encodePrefix, loadContinuation, splitWindows } from '../../src/tasks/continuation.ts';
import { readFileSync } from 'node:fs';
import { loadLlama2cTokenizer } from '../../src/model/tokenizer-llama2c.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) < tol, `${a} != ${b}`);

test('mean log-likelihood, hand-computed', () => {
  // row 0: logits [0, 0] → p = 1/2 each; target 1 → log 0.5
  // row 1: logits [ln 3, 0] → p = [3/4, 1/4]; target 0 → log 0.75
  const logits = new Float32Array([0, 0, Math.log(3), 0]); // [T=2, V=2]
  close(meanLogLikelihood(logits, 2, [1, 0]), (Math.log(0.5) + Math.log(0.75)) / 2, 1e-7);
  // shift invariance of softmax: adding a constant to a row changes nothing
  close(meanLogLikelihood(new Float32Array([100, 100, 100 + Math.log(3), 100]), 2, [1, 0]), (Math.log(0.5) + Math.log(0.75)) / 2, 1e-5);
  assert.throws(() => meanLogLikelihood(logits, 2, [1]));
});

test('top-1 agreement, hand-computed', () => {
  const full = new Float32Array([1, 2, 0, /**/ 5, 1, 1, /**/ 0, 0, 3]); // argmax 1, 0, 2
  const comp = new Float32Array([0, 9, 0, /**/ 1, 5, 1, /**/ 0, 1, 2]); // argmax 1, 1, 2
  close(top1Agreement(full, comp, 3), 2 / 3);
});

test('KL(full ‖ compressed), hand-computed', () => {
  // row 0: p = [1/2, 1/2], q = [3/4, 1/4]: KL = ½ ln(2/3) + ½ ln 2
  // row 1: identical → 0
  const full = new Float32Array([0, 0, 1, 2]);
  const comp = new Float32Array([Math.log(3), 0, 1, 2]);
  const kl0 = 0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25);
  close(meanKlDivergence(full, comp, 2), kl0 / 2, 1e-7);
  close(meanKlDivergence(full, full, 2), 0, 1e-12);
});

test('windows split context and continuation by token counts', () => {
  const ids = Array.from({ length: 25 }, (_, i) => i);
  const w = splitWindows(ids, 8, 2, 10, 5);
  assert.equal(w.length, 2); // starts 0 and 10; a third (20..30) does not fit
  assert.deepEqual(w[1], { start: 10, contextIds: [10, 11, 12, 13, 14, 15, 16, 17], continuationIds: [18, 19] });
  assert.equal(splitWindows(ids, 24, 2).length, 0);
});

test('continuation samples from the Paul Graham essays with the stories260K tokenizer', () => {
  const tok = loadLlama2cTokenizer(sharedDataPath('stories260K', 'tok512.bin'));
  const samples = loadContinuation(sharedDataPath('paul_graham_essays'), tok, { contextTokens: 384, continuationTokens: 64, samples: 5, seed: 1 });
  assert.equal(samples.length, 5);
  for (const s of samples) {
    const m = s.meta as { contextIds: number[]; continuationIds: number[] };
    assert.equal(m.contextIds.length, 384);
    assert.equal(m.continuationIds.length, 64);
    assert.equal(s.metric, 'loglik');
    assert.ok(s.context.length > 100);
  }
  // rss.txt (55 bytes) is too short for one window and is skipped
  assert.ok(!samples.some((s) => s.id.startsWith('rss.txt')));
});

test('prefix tokenization gives the same tokens as tokenizing the whole essay', () => {
  const tok = loadLlama2cTokenizer(sharedDataPath('stories260K', 'tok512.bin'));
  const text = readFileSync(sharedDataPath('paul_graham_essays', 'addiction.txt'), 'utf8');
  const full = tok.encode(text, { addBos: false });
  const pre = encodePrefix(text, tok, 448);
  assert.ok(pre.length >= 448 && pre.length < full.length);
  assert.deepEqual(pre, full.slice(0, pre.length));
});
