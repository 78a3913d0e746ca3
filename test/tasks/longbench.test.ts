import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvoptError } from '../../src/util/errors.ts';
import { LONGBENCH_DATASETS, LONGBENCH_DATASET_NAMES } from '../../src/tasks/longbench-config.ts';
import { buildLongBenchPrompt, formatTemplate, loadLongBench, longBenchTask, splitTemplate } from '../../src/tasks/longbench.ts';
import { middleTruncateIds } from '../../src/tasks/truncate.ts';
import type { Sample, TokenCodec } from '../../src/tasks/types.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';

test('config equals the official dataset2prompt.json and dataset2maxlen.json', () => {
  const prompts = JSON.parse(readFileSync(sharedDataPath('longbench', 'dataset2prompt.json'), 'utf8')) as Record<string, string>;
  const maxlen = JSON.parse(readFileSync(sharedDataPath('longbench', 'dataset2maxlen.json'), 'utf8')) as Record<string, number>;
  assert.deepEqual([...LONGBENCH_DATASET_NAMES].sort(), Object.keys(prompts).sort());
  assert.equal(LONGBENCH_DATASET_NAMES.length, 21);
  for (const name of LONGBENCH_DATASET_NAMES) {
    assert.equal(LONGBENCH_DATASETS[name].prompt, prompts[name], name);
    assert.equal(LONGBENCH_DATASETS[name].maxNewTokens, maxlen[name], name);
  }
  assert.ok(LONGBENCH_DATASETS.narrativeqa.prompt.includes('asconcisely')); // typo kept
});

test('metrics, chat-template and first-line rules per dataset (eval.py / pred.py)', () => {
  const noChat = LONGBENCH_DATASET_NAMES.filter((n) => !LONGBENCH_DATASETS[n].chatTemplate).sort();
  assert.deepEqual(noChat, ['lcc', 'lsht', 'repobench-p', 'samsum', 'trec', 'triviaqa']);
  const first = LONGBENCH_DATASET_NAMES.filter((n) => LONGBENCH_DATASETS[n].firstLine).sort();
  assert.deepEqual(first, ['lsht', 'samsum', 'trec', 'triviaqa']);
  assert.equal(LONGBENCH_DATASETS.multi_news.metric, 'rouge');
  assert.equal(LONGBENCH_DATASETS.vcsum.metric, 'rouge_zh');
  assert.equal(LONGBENCH_DATASETS.passage_count.metric, 'count');
  assert.equal(LONGBENCH_DATASETS['repobench-p'].metric, 'code_sim');
  assert.equal(LONGBENCH_DATASETS.triviaqa.metric, 'qa_f1');
});

test('template split: context part ends at {context}, the rest is the question part', () => {
  const [c, q] = splitTemplate(LONGBENCH_DATASETS.hotpotqa.prompt);
  assert.ok(c.endsWith('The following are given passages.\n{context}'));
  assert.ok(q.startsWith('\n\nAnswer the question based on the given passages.'));
  assert.ok(q.endsWith('Question: {input}\nAnswer:'));
  const [, rq] = splitTemplate(LONGBENCH_DATASETS['repobench-p'].prompt);
  assert.equal(rq, '{input}Next line of code:\n');
  // braces inside values are left alone (Python format substitutes values verbatim)
  assert.equal(formatTemplate('{context}|{input}', { context: 'a{input}b', input: 'q' }), 'a{input}b|q');
});

test('middle truncation keeps the first and last floor(max/2) tokens', () => {
  const ids = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(middleTruncateIds(ids, 6), [0, 1, 2, 7, 8, 9]);
  assert.deepEqual(middleTruncateIds(ids, 7), [0, 1, 2, 7, 8, 9]); // half = 3
  assert.deepEqual(middleTruncateIds(ids, 10), ids);
});

/** A character tokenizer: one id per UTF-16 unit, BOS = -1 (dropped by decode), so truncation is exact to check. */
const charTok: TokenCodec = {
  encode: (t, o) => [...(o?.addBos ? [-1] : []), ...Array.from(t, (c) => c.charCodeAt(0))],
  decode: (ids) => String.fromCharCode(...ids.filter((i) => i >= 0)),
};

test('prompt of a real multi_news sample; truncation cuts the middle of the context part', () => {
  const samples = loadLongBench(sharedDataPath('longbench', 'multi_news.jsonl'), 'multi_news', { samples: 3 });
  assert.equal(samples.length, 3);
  const s = samples[0];
  assert.equal(s.task, 'longbench/multi_news');
  assert.equal(s.maxNewTokens, 512);
  const full = buildLongBenchPrompt('multi_news', s);
  assert.ok(full.contextText.startsWith('You are given several news passages. Write a one-page summary of all news. \n\nNews:\n'));
  assert.ok(full.contextText.endsWith(s.context));
  assert.equal(full.questionText, '\n\nNow, write a one-page summary of all the news.\n\nSummary:');
  assert.equal(full.answerText, s.answers[0]);
  const cut = buildLongBenchPrompt('multi_news', s, { tokenizer: charTok, maxPromptTokens: 1000 });
  assert.equal(cut.truncated, true);
  // 1000 tokens incl. BOS: first 500 (BOS + 499 chars) and last 500 chars of the whole prompt
  const whole = full.contextText + full.questionText;
  assert.equal(cut.contextText + cut.questionText, whole.slice(0, 499) + whole.slice(whole.length - 500));
  assert.equal(cut.questionText, full.questionText);
});

test("multi_news: ROUGE-L of the gold summary against itself is 1, against another sample's summary far lower", () => {
  const task = longBenchTask('multi_news');
  const [a, b] = task.load(sharedDataPath('longbench', 'multi_news.jsonl'), { samples: 2 });
  assert.ok(Math.abs(task.score(a!.answers[0], a!) - 1) < 1e-6);
  assert.ok(task.score(b!.answers[0], a!) < 0.5);
});

test('loader reads the Chinese files; passage_retrieval_zh scores the gold answer as 1', () => {
  const task = longBenchTask('passage_retrieval_zh');
  const samples = task.load(sharedDataPath('longbench', 'passage_retrieval_zh.jsonl'), { samples: 4, seed: 3 });
  assert.equal(samples.length, 4);
  for (const s of samples) {
    assert.match(s.answers[0], /^段落\d+$/);
    assert.equal(task.score(s.answers[0], s), 1);
    assert.equal(task.score('段落0', s), 0);
  }
  const qa = longBenchTask('multifieldqa_zh');
  const q = qa.load(sharedDataPath('longbench', 'multifieldqa_zh.jsonl'), { samples: 2 })[0];
  const p = qa.buildPrompt(q);
  assert.ok(p.questionText.endsWith(`问题：${q.question}\n回答：`));
  assert.equal(qa.score(q.answers[0], q), 1);
});

test('first-line rule applies to trec-style tasks only', () => {
  const s: Sample = {
    id: 'x',
    task: 'longbench/trec',
    context: '',
    question: '',
    answers: ['Location'],
    allClasses: ['Location', 'Entity'],
    maxNewTokens: 64,
    metric: 'classification',
  };
  assert.equal(longBenchTask('trec').score('\nLocation\nEntity', s), 1);
  const qa: Sample = { ...s, task: 'longbench/hotpotqa', answers: ['Paris'], metric: 'qa_f1' };
  assert.ok(longBenchTask('hotpotqa').score('Paris\nLondon', qa) < 1);
});

test('bad JSONL lines name file, line and field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-longbench-bad-'));
  const good = { _id: 'a', context: 'c', input: 'q', answers: ['x'], all_classes: null, length: 3, language: 'en' };
  const cases: [string, string, RegExp][] = [
    ['not-json', `${JSON.stringify(good)}\n{"context": `, /bad\.jsonl:2: not valid JSON/],
    ['array', `${JSON.stringify(good)}\n\n[1, 2]`, /bad\.jsonl:3: expected a JSON object per line/],
    ['context', JSON.stringify({ ...good, context: 7 }), /bad\.jsonl:1: field "context" must be a string, got number 7/],
    ['input', JSON.stringify({ ...good, input: undefined }), /bad\.jsonl:1: field "input" must be a string/],
    ['answers', JSON.stringify({ ...good, answers: 'x' }), /bad\.jsonl:1: field "answers"/],
    ['length', JSON.stringify({ ...good, length: 'long' }), /bad\.jsonl:1: field "length"/],
  ];
  for (const [name, text, re] of cases) {
    const file = join(dir, name, 'bad.jsonl');
    mkdirSync(join(dir, name));
    writeFileSync(file, text);
    assert.throws(
      () => loadLongBench(file, 'hotpotqa'),
      (e: unknown) => e instanceof KvoptError && re.test((e as Error).message) && (e as Error).message.includes(file),
      name,
    );
  }
  // classification datasets need all_classes
  const trec = join(dir, 'trec.jsonl');
  writeFileSync(trec, JSON.stringify(good));
  assert.throws(() => loadLongBench(trec, 'trec'), /trec\.jsonl:1: field "all_classes" must be a list of strings for trec/);
  assert.throws(() => longBenchTask('nope'), /unknown LongBench dataset "nope"/);
});
