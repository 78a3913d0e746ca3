import test from 'node:test';
import assert from 'node:assert/strict';
import { exactMatch, stringMatchAll, stringMatchPart, substringMatch } from '../../src/tasks/metrics/string-match.ts';
import { extractFlexible, extractStrict, gsm8kGold, normalizeNumber, numericMatch } from '../../src/tasks/metrics/numeric.ts';
import { bucketScores, datasetScore, lengthBucket } from '../../src/tasks/metrics/aggregate.ts';
import { scorePrediction } from '../../src/tasks/metrics/index.ts';

test('RULER string_match_all / part (case-insensitive substring)', () => {
  assert.equal(stringMatchAll('The keys are 123 and 456', ['123', '456', '789']), 2 / 3);
  assert.equal(stringMatchPart('The keys are 123 and 456', ['789', '456']), 1);
  assert.equal(stringMatchPart('nothing', ['789']), 0);
  assert.equal(stringMatchAll('DOLORES park', ['Dolores Park']), 1);
  assert.equal(scorePrediction('string_match_all', 'a b', ['a', 'c']), 0.5);
});

test('exact and substring match use normalize_answer', () => {
  assert.equal(exactMatch('The Answer!', 'answer'), 1);
  assert.equal(exactMatch('answer 2', 'answer'), 0);
  assert.equal(substringMatch('The pass key is 12345.', '12345'), 1);
  assert.equal(substringMatch('The pass key is 123456.', '12345'), 0); // whole tokens only
  assert.equal(substringMatch('anything', ''), 0);
});

test('GSM8K extraction and normalisation', () => {
  assert.equal(extractStrict('so 3+4=7\n#### 1,234'), '1,234');
  assert.equal(extractStrict('The answer is 7.'), null);
  assert.equal(extractFlexible('She pays $1,200. Then 3 more, total 15.'), '15.');
  assert.equal(normalizeNumber('$1,200.'), '1200');
  assert.equal(gsm8kGold('Janet sells 9 eggs.\n#### 18'), '18');
  assert.equal(numericMatch('18.', '18'), 1);
  assert.equal(numericMatch('18.0', '18'), 1); // numeric equality
  assert.equal(numericMatch('-3', '3'), 0);
  assert.equal(numericMatch(null, '3'), 0);
  assert.equal(scorePrediction('gsm8k_strict', 'blah 18 #### 18', ['18']), 1);
  assert.equal(scorePrediction('gsm8k_strict', 'the answer is 18', ['18']), 0);
  assert.equal(scorePrediction('gsm8k_flexible', 'the answer is 18', ['18']), 1);
});

test('dataset score = round(100·mean, 2); LongBench-E buckets', () => {
  assert.equal(datasetScore([1, 0, 0.5]), 50);
  assert.equal(datasetScore([1, 0, 0]), 33.33);
  assert.equal(datasetScore([]), null);
  assert.equal(lengthBucket(3999), '0-4k');
  assert.equal(lengthBucket(4000), '4-8k');
  assert.equal(lengthBucket(8000), '8k+');
  assert.deepEqual(bucketScores([1, 0, 0.25, 1], [100, 5000, 5000, 9000]), { '0-4k': 100, '4-8k': 12.5, '8k+': 100 });
  assert.deepEqual(bucketScores([1], [10]), { '0-4k': 100, '4-8k': null, '8k+': null });
});
