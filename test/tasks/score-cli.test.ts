import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scoreLongBenchPredictions } from '../../src/tasks/score-predictions.ts';
import { repoRoot } from '../helpers/shared-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'kvopt-score-'));
const write = (name: string, lines: string[]) => {
  const p = join(dir, name);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
};
const kvopt = (...args: string[]) => spawnSync(process.execPath, ['bin/kvopt.mjs', ...args], { cwd: repoRoot, encoding: 'utf8' });

// trec: sample 1 scores 1 (first line "Location"), sample 2 scores 1/2 (two classes), sample 3 scores 0
const trec = [
  { pred: '\nLocation\nEntity', answers: ['Location'], all_classes: ['Entity', 'Location', 'Human being'], length: 1000 },
  { pred: 'Entity or Human being', answers: ['Entity'], all_classes: ['Entity', 'Location', 'Human being'], length: 5000 },
  { pred: 'nothing', answers: ['Location'], all_classes: ['Entity', 'Location', 'Human being'], length: 9000 },
].map((o) => JSON.stringify(o));

test('score a LongBench predictions file (library)', () => {
  const r = scoreLongBenchPredictions(write('trec.jsonl', trec), 'trec', { buckets: true });
  assert.deepEqual(r.sampleScores, [1, 0.5, 0]);
  assert.equal(r.score, 50);
  assert.deepEqual(r.buckets, { '0-4k': 100, '4-8k': 50, '8k+': 0 });
});

test('kvopt score prints the score ×100 with 2 decimals, --json and --e', () => {
  const file = write('trec2.jsonl', trec);
  const plain = kvopt('score', '--dataset', 'trec', '--predictions', file);
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /^trec: 50\.00 \(3 samples\)/);
  const json = kvopt('score', '--dataset', 'trec', '--predictions', file, '--json', '--e');
  assert.equal(json.status, 0, json.stderr);
  const r = JSON.parse(json.stdout) as { score: number; samples: number; buckets: Record<string, number> };
  assert.equal(r.score, 50);
  assert.equal(r.samples, 3);
  assert.deepEqual(r.buckets, { '0-4k': 100, '4-8k': 50, '8k+': 0 });
});

test('kvopt score: bad line → one-line error naming file, line and field', () => {
  const bad = write('bad.jsonl', [trec[0], JSON.stringify({ pred: 'x', answers: 'Location', all_classes: null })]);
  const r = kvopt('score', '--dataset', 'hotpotqa', '--predictions', bad);
  assert.notEqual(r.status, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /bad\.jsonl:2: field "answers" must be a list of strings/);
});

test('scoring errors name file, line and field (library, same KvoptError the CLI prints)', () => {
  const notJson = write('nj.jsonl', ['{"pred": "x",']);
  assert.throws(() => scoreLongBenchPredictions(notJson, 'hotpotqa'), /nj\.jsonl:1: not valid JSON/);
  assert.throws(() => scoreLongBenchPredictions(notJson, 'nope'), /--dataset: unknown LongBench dataset "nope"/);
  assert.throws(() => scoreLongBenchPredictions(join(dir, 'missing.jsonl'), 'trec'), /missing\.jsonl: cannot read file \(ENOENT\)/);
  const noClasses = write('nc.jsonl', [JSON.stringify({ pred: 'x', answers: ['Location'], all_classes: null, length: 1 })]);
  assert.throws(() => scoreLongBenchPredictions(noClasses, 'trec'), /nc\.jsonl:1: field "all_classes"/);
  const noLen = write('nl.jsonl', [JSON.stringify({ pred: 'x', answers: ['x'], all_classes: null })]);
  assert.throws(() => scoreLongBenchPredictions(noLen, 'hotpotqa', { buckets: true }), /nl\.jsonl:1: field "length" must be a number/);
  assert.equal(scoreLongBenchPredictions(noLen, 'hotpotqa').score, 100); // length only needed for buckets
  const count = write('count.jsonl', [JSON.stringify({ pred: '3 or 4', answers: ['3'], all_classes: null, length: 1 })]);
  assert.equal(scoreLongBenchPredictions(count, 'passage_count').score, 50);
});
