import test from 'node:test';
import assert from 'node:assert/strict';
import { normalizeAnswer, normalizeZhAnswer, pySplit, firstLine, pyRound2, pyRoundInt } from '../../src/tasks/metrics/text.ts';
import { qaF1, qaF1Zh, tokenF1 } from '../../src/tasks/metrics/qa-f1.ts';
import { scorePrediction } from '../../src/tasks/metrics/index.ts';
import { jiebaCut } from '../../src/tasks/metrics/jieba.ts';

test('normalize_answer: lower, punctuation, articles, whitespace', () => {
  assert.equal(normalizeAnswer('The Cat sat on the mat.'), 'cat sat on mat');
  assert.equal(normalizeAnswer('  An apple,  a PEAR!! '), 'apple pear');
  // articles only as whole words; "theatre" and "another" stay
  assert.equal(normalizeAnswer('theatre another a'), 'theatre another');
  // punctuation is removed before articles: "the-end" → "theend"
  assert.equal(normalizeAnswer('the-end'), 'theend');
  // Python \b is Unicode-aware: "éa" keeps its "a"
  assert.equal(normalizeAnswer('éa b'), 'éa b');
});

test('normalize_zh_answer drops Chinese and ASCII punctuation and all whitespace', () => {
  assert.equal(normalizeZhAnswer('厦门 大学。“你好”!'), '厦门大学你好');
  assert.equal(normalizeZhAnswer('ABC，d'), 'abcd');
});

test('python split and first-line rule', () => {
  assert.deepEqual(pySplit(' a\tb\u3000c\n'), ['a', 'b', 'c']);
  assert.deepEqual(pySplit('a\ufeffb'), ['a\ufeffb']); // U+FEFF is not Python whitespace
  assert.equal(firstLine('\n\nLocation\nmore'), 'Location');
  assert.equal(firstLine(''), '');
});

test('token F1 counts shared tokens as a multiset', () => {
  // common = min(2,1) = 1; P = 1/3, R = 1/2, F1 = 2·(1/6)/(5/6) = 0.4
  assert.ok(Math.abs(tokenF1(['x', 'x', 'y'], ['x', 'z']) - 0.4) < 1e-12);
  assert.equal(tokenF1(['a'], ['b']), 0);
  assert.equal(tokenF1([], ['b']), 0);
});

test('qa_f1 hand cases', () => {
  // "cat sat on mat" vs "cat sat": P = 2/4, R = 1 → 2/3
  assert.ok(Math.abs(qaF1('The Cat sat on the mat.', 'a cat sat') - 2 / 3) < 1e-12);
  assert.equal(qaF1('Paris', 'paris!'), 1);
  // normalised to nothing on one side → 0
  assert.equal(qaF1('the', 'Paris'), 0);
});

test('sample score is the max over answers', () => {
  assert.equal(scorePrediction('qa_f1', 'Paris', ['London', 'paris!']), 1);
  assert.ok(Math.abs(scorePrediction('qa_f1', 'big red dog', ['red', 'small dog']) - 0.5) < 1e-12);
});

test('jieba-wasm segments as jieba accurate mode (README example)', () => {
  // jieba README, 精确模式: 我/ 来到/ 北京/ 清华大学
  assert.deepEqual(jiebaCut('我来到北京清华大学'), ['我', '来到', '北京', '清华大学']);
});

test('qa_f1_zh hand cases', () => {
  // "。" normalises to "" and is dropped → identical token lists
  assert.equal(qaF1Zh('厦门大学。', '厦门大学'), 1);
  // pred tokens 我/来到/北京/清华大学, gold 清华大学: P = 1/4, R = 1 → 0.4
  assert.ok(Math.abs(qaF1Zh('我来到北京清华大学', '清华大学') - 0.4) < 1e-12);
  assert.equal(qaF1Zh('北京', '上海'), 0);
});

test('Python rounding: round(x, 2) half-even on exact ties, int(round()) half-even', () => {
  assert.equal(pyRound2(0.125), 0.12); // exact binary tie → even
  assert.equal(pyRound2(0.375), 0.38);
  assert.equal(pyRound2(2.675), 2.67); // 2.675 is 2.67499999... in binary
  assert.equal(pyRound2(33.333333), 33.33);
  assert.equal(pyRoundInt(12.5), 12);
  assert.equal(pyRoundInt(13.5), 14);
  assert.equal(pyRoundInt(75.55), 76);
});
