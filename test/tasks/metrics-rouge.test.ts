import test from 'node:test';
import assert from 'node:assert/strict';
import { reconLcs, rouge1F, rougeLF, rougeLSummary, rougeN, rougeSentences } from '../../src/tasks/metrics/rouge.ts';
import { rougeLFZh } from '../../src/tasks/metrics/rouge-zh.ts';
import { scorePrediction } from '../../src/tasks/metrics/index.ts';

const close = (a: number, b: number, tol = 1e-7) => assert.ok(Math.abs(a - b) < tol, `${a} != ${b}`);

test('sentences: split on ".", empty pieces dropped, whitespace collapsed', () => {
  assert.deepEqual(rougeSentences('A b.  c\n d. '), ['A b', 'c d', '']);
  assert.deepEqual(rougeSentences('...'), []);
});

test('ROUGE-L single sentence: distinct-word union LCS', () => {
  // ref words {the,cat,is,on,mat} m=5, hyp {the,cat,sat,on,mat} n=5; LCS the cat on the mat → set of 4
  // R = P = 4/5, F = 2·0.64/(1.6 + 1e-8)
  close(rougeLF('the cat sat on the mat', 'the cat is on the mat'), (2 * 0.64) / (1.6 + 1e-8), 1e-12);
});

test('ROUGE-L is summary level (union over sentence pairs), not one LCS over the whole text', () => {
  // hyp sentences "a b" | "c d", ref "a c" | "b d": union {a, c} ∪ {b, d} = 4 of m = n = 4 → F ≈ 1,
  // whereas one LCS over "a b c d" vs "a c b d" would give 3/4.
  const s = rougeLSummary(rougeSentences('a b. c d'), rougeSentences('a c. b d'));
  close(s.r, 1, 1e-12);
  close(s.p, 1, 1e-12);
  close(s.f, 2 / (2 + 1e-8), 1e-12);
});

test('LCS reconstruction follows the package tie-breaking (left on ties)', () => {
  // x = [a, b] (reference), y = [b, a]: at (2,2) table[1][2] = table[2][1] = 1 → j-1, then b = b
  assert.deepEqual(reconLcs(['a', 'b'], ['b', 'a']).lcs, ['b']);
  assert.deepEqual(reconLcs(['a', 'b', 'c'], ['a', 'x', 'c']).lcs, ['a', 'c']);
});

test('ROUGE is case sensitive and empty candidates score 0 (Python raises, LongBench catches)', () => {
  assert.equal(rougeLF('', 'a b'), 0);
  assert.equal(rougeLF('...', 'a b'), 0);
  assert.equal(rougeLF('   ', 'a b'), 0); // one empty sentence: no exception, no overlap
  assert.equal(rougeLF('A B', 'a b'), 0);
});

test('ROUGE-L reproduces the RecursionError of the recursive reconstruction (→ 0)', () => {
  const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
  close(rougeLF(words(900), words(900)), 2 / (2 + 1e-8), 1e-12); // 901 nested calls: fine
  assert.equal(rougeLF(words(1000), words(1000)), 0); // 1001 nested calls: Python raises
  close(rougeLF(words(1000), words(1000), { maxReconCalls: null }), 2 / (2 + 1e-8), 1e-12);
});

test('ROUGE-1 uses distinct unigrams (needle score)', () => {
  // needle: 21 words, "in" and "a" twice → 19 distinct; prediction: 6 distinct, all in the needle.
  // P = 1, R = 6/19, F = 2·(6/19)/(1 + 6/19 + 1e-8)
  const needle = 'The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.';
  const r = 6 / 19;
  close(rouge1F('eat a sandwich in Dolores Park', needle), (2 * r) / (1 + r + 1e-8), 1e-12);
  close(rougeN(['a a b'], ['a b c'], 1).p, 1, 1e-12); // sets: {a,b} ⊂ {a,b,c}
  assert.equal(scorePrediction('rouge1', 'nothing here', [needle]), 0);
});

test('rouge_zh: jieba words joined by spaces', () => {
  close(rougeLFZh('我来到北京清华大学', '我来到北京清华大学'), 2 / (2 + 1e-8), 1e-12);
  // words 我 来到 北京 清华大学 vs 清华大学: LCS {清华大学}; R = 1, P = 1/4
  close(rougeLFZh('我来到北京清华大学', '清华大学'), (2 * 0.25) / (1.25 + 1e-8), 1e-12);
  assert.equal(rougeLFZh('北京', '上海'), 0);
});
