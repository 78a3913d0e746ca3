import test from 'node:test';
import assert from 'node:assert/strict';
import { classificationScore } from '../../src/tasks/metrics/classification.ts';
import { countScore, retrievalScore, retrievalZhScore } from '../../src/tasks/metrics/retrieval.ts';
import { scorePrediction } from '../../src/tasks/metrics/index.ts';

const TREC = ['Entity', 'Description', 'Abbreviation', 'Human being', 'Location', 'Numeric value'];

test('classification: exact class, several classes, none', () => {
  assert.equal(classificationScore('Location', 'Location', TREC), 1);
  assert.equal(classificationScore('Location or Human being', 'Location', TREC), 0.5);
  assert.equal(classificationScore('Human being', 'Location', TREC), 0);
  assert.equal(classificationScore('no idea', 'Location', TREC), 0);
});

test('classification: a class that is a substring of the gold label is dropped', () => {
  // matches [abc, b, x]; "b" is inside the gold "abc" and not equal → dropped → [abc, x] → 1/2
  assert.equal(classificationScore('abc x', 'abc', ['abc', 'b', 'x']), 0.5);
  // without other classes: [abc, b] → [abc] → 1
  assert.equal(classificationScore('abc', 'abc', ['abc', 'b']), 1);
});

test('classification: the official remove-while-iterating skip is reproduced', () => {
  // matches [b, c, abc]; "b" removed at index 0 shifts "c" to index 0, and the loop moves on to "abc",
  // so "c" (also inside "abc") is never examined: [c, abc] → 1/2 (a correct filter would give 1).
  assert.equal(classificationScore('abc', 'abc', ['b', 'c', 'abc']), 0.5);
});

test('classification needs all_classes through scorePrediction', () => {
  assert.throws(() => scorePrediction('classification', 'x', ['x']));
  assert.equal(scorePrediction('classification', 'Location', ['Entity', 'Location'], TREC), 1);
});

test('retrieval: fraction of integers equal to the paragraph id', () => {
  assert.equal(retrievalScore('Paragraph 3', 'Paragraph 3'), 1);
  assert.equal(retrievalScore('Paragraph 3 or Paragraph 12', 'Paragraph 3'), 0.5);
  assert.equal(retrievalScore('I think it is paragraph three', 'Paragraph 3'), 0); // no numbers
  assert.equal(retrievalScore('Paragraph 30', 'Paragraph 3'), 0); // whole digit runs, not prefixes
  assert.equal(retrievalScore('3, 3, 4', 'Paragraph 3'), 2 / 3);
  assert.equal(retrievalScore('Paragraph 3', 'no id here'), 0);
});

test('retrieval_zh and full-width digits (Python \\d matches them, they differ from ASCII)', () => {
  assert.equal(retrievalZhScore('段落27', '段落27'), 1);
  assert.equal(retrievalZhScore('段落2和段落27', '段落27'), 0.5);
  assert.equal(retrievalZhScore('段落２７', '段落27'), 0); // one number "２７" ≠ "27"
  assert.equal(retrievalZhScore('答案是段落27。', '段落27'), 1);
});

test('count', () => {
  assert.equal(countScore('There are 5 unique paragraphs, not 6', '5'), 0.5);
  assert.equal(countScore('5', '5'), 1);
  assert.equal(countScore('five', '5'), 0);
});
