import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildNeedleContext, buildNeedlePrompt, DEFAULT_NEEDLE, insertionIndex, needleSamples, needleTask, readHaystack } from '../../src/tasks/needle.ts';
import { loadSampleFile } from '../../src/tasks/sample-file.ts';
import { createTask } from '../../src/tasks/registry.ts';
import { loadLlama2cTokenizer } from '../../src/model/tokenizer-llama2c.ts';
import { loadHfTokenizer } from '../../src/model/tokenizer-hf.ts';
import { repoRoot, sharedDataPath } from '../helpers/shared-data.ts';

test('insertion index: floor(n·d/100) moved back to just after a period; 100 → end; no period → 0', () => {
  const P = 9;
  const isP = (id: number) => id === P;
  const toks = [1, 2, P, 3, 4, 5, P, 6, 7, 8];
  assert.equal(insertionIndex(toks, 50, isP), 3); // 5 → back to 3 (token 2 is the period)
  assert.equal(insertionIndex(toks, 70, isP), 7); // 7: token 6 is a period already
  assert.equal(insertionIndex(toks, 100, isP), 10);
  assert.equal(insertionIndex(toks, 0, isP), 0);
  assert.equal(insertionIndex([1, 2, 3], 90, isP), 0);
});

test('needle grid on the Paul Graham haystack with the stories260K tokenizer (512 context)', () => {
  const tok = loadLlama2cTokenizer(sharedDataPath('stories260K', 'tok512.bin'));
  const dir = sharedDataPath('paul_graham_essays');
  const samples = needleSamples(dir, tok, { lengths: [128, 256, 448], depths: [0, 25, 50, 75, 100] });
  assert.equal(samples.length, 15);
  for (const s of samples) {
    const { length, depth } = s.meta as { length: number; depth: number };
    assert.ok(s.context.includes(DEFAULT_NEEDLE), s.id);
    const n = tok.encode(s.context, { addBos: false }).length;
    assert.ok(Math.abs(n - length) <= 3, `${s.id}: ${n} tokens for length ${length}`); // decode→encode may merge at the seams
    const at = s.context.indexOf(`\n${DEFAULT_NEEDLE}\n`);
    if (depth === 0) assert.equal(at, 0);
    else if (depth === 100) assert.ok(s.context.endsWith(`${DEFAULT_NEEDLE}\n`));
    // after a period, or at 0 when the haystack has no period before floor(n·d/100) (short lengths)
    else assert.ok(at === 0 || s.context.slice(0, at).trimEnd().endsWith('.'), `${s.id}: needle not at a sentence boundary`);
    const p = buildNeedlePrompt(s);
    assert.ok(p.questionText.includes('What is the best thing to do in San Francisco?'));
  }
  // at 448 tokens every interior depth finds a period: deeper needles sit further in
  for (const d of [25, 50, 75]) assert.ok(samples.find((x) => x.id === `needle-L448-d${d}`)!.context.indexOf(DEFAULT_NEEDLE) > 1);
  const at = (id: string) => samples.find((s) => s.id === id)!.context.indexOf(DEFAULT_NEEDLE);
  assert.ok(at('needle-L448-d25') < at('needle-L448-d50') && at('needle-L448-d50') < at('needle-L448-d75'));
  // scoring: the needle itself scores ~1 by ROUGE-1, an unrelated answer 0
  const task = needleTask(tok, { lengths: [128], depths: [50] });
  assert.ok(task.score(DEFAULT_NEEDLE, samples[0]) > 0.99);
  assert.equal(task.score('Nothing here', samples[0]), 0);
});

test('with the Llama-2 tokenizer the needle also lands after a period (SentencePiece "." inside text)', () => {
  const tok = loadHfTokenizer(sharedDataPath('tiny-random-llama-onnx-fp16'));
  const hay = readHaystack(sharedDataPath('paul_graham_essays'));
  const c = buildNeedleContext(hay, tok, DEFAULT_NEEDLE, 400, 50);
  assert.ok(c.insertedAt > 100, `inserted at ${c.insertedAt}`);
  const before = c.context.slice(0, c.context.indexOf(`\n${DEFAULT_NEEDLE}`));
  assert.ok(before.trimEnd().endsWith('.'));
});

test('the shipped synthetic sets load, score their own answers, and are small; the generator reproduces them', () => {
  const pass = loadSampleFile(join(repoRoot, 'datasets', 'passkey.jsonl'), 'passkey');
  const needle = loadSampleFile(join(repoRoot, 'datasets', 'needle.jsonl'), 'needle');
  assert.equal(pass.length, 15);
  assert.equal(needle.length, 15);
  const pt = createTask('passkey', { data: 'datasets/passkey.jsonl' });
  for (const s of pass) {
    assert.ok(s.context.includes(`The pass key is ${s.answers[0]}.`));
    assert.equal(pt.score(` ${s.answers[0]}. Remember it.`, s), 1);
    assert.equal(pt.score(' 00000', s), 0);
  }
  const tok = loadLlama2cTokenizer(sharedDataPath('stories260K', 'tok512.bin'));
  for (const s of [...pass, ...needle]) {
    const p = pt.buildPrompt(s);
    const n = tok.encode(p.contextText + p.questionText, { addBos: true }).length + s.maxNewTokens;
    assert.ok(n <= 512, `${s.id}: ${n} tokens do not fit stories260K's 512`);
  }
  const out = mkdtempSync(join(tmpdir(), 'kvopt-ds-'));
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/make-needle-dataset.ts', '--out', out], { cwd: repoRoot });
  for (const f of ['passkey.jsonl', 'needle.jsonl']) {
    assert.equal(readFileSync(join(out, f), 'utf8'), readFileSync(join(repoRoot, 'datasets', f), 'utf8'), f);
  }
});
