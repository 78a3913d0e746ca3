import test from 'node:test';
import assert from 'node:assert/strict';
import { formatShot, formatTarget, gsm8kTask, loadGsm8k } from '../../src/tasks/gsm8k.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';

test('GSM8K: 8-shot prompts from train, seeded, question part = target', () => {
  const path = sharedDataPath('gsm8k', 'test.jsonl');
  const a = loadGsm8k(path, { samples: 3 });
  const b = loadGsm8k(path, { samples: 3 });
  assert.equal(a.length, 3);
  assert.deepEqual(a, b); // same seed → same shots
  const s = a[0];
  assert.equal(s.answers[0], '18'); // Janet's ducks
  const shots = (s.meta as { shots: number[] }).shots;
  assert.equal(shots.length, 8);
  assert.equal(new Set(shots).size, 8);
  assert.equal(s.context.split('Question: ').length - 1, 8);
  assert.ok(s.context.endsWith('\n\n'));
  assert.match(s.context, /#### -?[\d,]+\n\n/);
  const other = loadGsm8k(path, { samples: 1, seed: 99 })[0];
  assert.notDeepEqual((other.meta as { shots: number[] }).shots, shots);
  const task = gsm8kTask();
  const p = task.buildPrompt(s);
  assert.equal(p.contextText, s.context);
  assert.equal(p.questionText, formatTarget(s.question));
  assert.ok(p.questionText.startsWith('Question: Janet'));
  assert.ok(p.questionText.endsWith('\nAnswer:'));
});

test('GSM8K templates and scoring with the stop string', () => {
  assert.equal(formatShot({ question: 'Q', answer: 'A <<1+1=2>>2\n#### 2' }), 'Question: Q\nAnswer: A <<1+1=2>>2\n#### 2\n\n');
  assert.equal(formatShot({ question: 'Q', answer: 'A <<1+1=2>>2\n#### 2' }, true), 'Question: Q\nAnswer: A 2\n#### 2\n\n');
  const task = gsm8kTask({ metric: 'gsm8k_flexible' });
  const s = { id: 'x', task: 'gsm8k', context: '', question: 'q', answers: ['18'], maxNewTokens: 256, metric: 'gsm8k_flexible' as const };
  // the text after "Question:" (the model starting a new problem) is cut before extraction
  assert.equal(task.score(' 16-3-4=9 eggs, 9*2 = 18 dollars.\n#### 18\n\nQuestion: next one has 5', s), 1);
  assert.equal(task.score(' It makes 20 dollars.', s), 0);
  const strict = gsm8kTask({ metric: 'gsm8k_strict' });
  assert.equal(strict.score(' It makes 18 dollars.', { ...s, metric: 'gsm8k_strict' }), 0);
  assert.equal(strict.score(' ...\n#### 18', { ...s, metric: 'gsm8k_strict' }), 1);
});

test('match: exact (default, as lm-evaluation-harness) vs numeric; the metric name says which', async () => {
  const { gsm8kMetric } = await import('../../src/tasks/gsm8k.ts');
  const { scorePrediction } = await import('../../src/tasks/metrics/index.ts');
  const { exactAnswerMatch } = await import('../../src/tasks/metrics/numeric.ts');
  // the harness: regexes_to_ignore [",", "\$", "(?s).*#### ", "\.$"], then string equality
  assert.equal(exactAnswerMatch('72.0', '72'), 0);
  assert.equal(exactAnswerMatch('$1,072.', '1072'), 1);
  assert.equal(gsm8kTask().metric, 'gsm8k_flexible');
  assert.equal(gsm8kTask({ match: 'numeric' }).metric, 'gsm8k_flexible_numeric');
  assert.equal(gsm8kMetric({ metric: 'gsm8k_strict', match: 'numeric' }), 'gsm8k_strict_numeric');
  assert.equal(scorePrediction('gsm8k_flexible', ' so she has 72.0 eggs', ['72']), 0);
  assert.equal(scorePrediction('gsm8k_flexible_numeric', ' so she has 72.0 eggs', ['72']), 1);
  assert.equal(scorePrediction('gsm8k_strict', '#### 72.0', ['72']), 0);
  assert.equal(scorePrediction('gsm8k_strict_numeric', '#### 72.0', ['72']), 1);
  assert.throws(() => gsm8kTask({ match: 'loose' as 'exact' }), /gsm8k option match: expected exact or numeric, got "loose"/);
});
