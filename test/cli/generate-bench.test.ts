/**
 * `kvopt generate` and `kvopt bench runtime` run as a user runs them (node bin/kvopt.mjs): only the generated text on
 * stdout, one-line errors with a non-zero exit for bad input, --json figures that are consistent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/model/load.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';
import { sharedDataPath, testCacheDir } from '../runtime/helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const kvopt = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/kvopt.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, KVOPT_CACHE_DIR: testCacheDir, NO_COLOR: '1' },
  });
const modelPath = sharedDataPath('stories260K', 'stories260K.bin');
const tokPath = sharedDataPath('stories260K', 'tok512.bin');

test('kvopt generate prints exactly the greedy continuation of the library', async () => {
  const r = kvopt('generate', '--model', modelPath, '--tokenizer', tokPath, '--prompt', 'Tom and Sue', '--max-new-tokens', '40', '--threads', '1');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const model = await loadModel(modelPath, { tokenizer: tokPath });
  const rt = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1 });
  const tok = model.tokenizer!;
  const g = await rt.generate(null, tok.encode('Tom and Sue', { addBos: true }), { maxNewTokens: 40 });
  await rt.release();
  assert.equal(r.stdout, tok.decode(g.tokens) + '\n');
  assert.ok(!r.stdout.includes('Tom and Sue'), 'the prompt is not echoed');
});

test('kvopt generate with an empty prompt starts from BOS', () => {
  const r = kvopt('generate', '--model', modelPath, '--max-new-tokens', '30', '--threads', '1');
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.trim().split(/\s+/).length >= 5, r.stdout);
});

test('kvopt generate: bad input exits non-zero with one line naming the problem', () => {
  const cases: [string[], RegExp][] = [
    [['--model', 'no/such/model.bin'], /no\/such\/model\.bin: model not found/],
    [['--model', modelPath, '--max-new-tokens', 'abc'], /--max-new-tokens must be an integer/],
    [['--model', modelPath, '--prompt', 'Once upon a time '.repeat(200)], /tokens, longer than the model context of 512/],
  ];
  for (const [args, message] of cases) {
    const r = kvopt('generate', ...args);
    assert.notEqual(r.status, 0, `${args.join(' ')} should fail`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, `more than one line: ${r.stderr}`);
    assert.match(r.stderr, /^kvopt: /);
  }
});

test('kvopt generate --help shows examples; --device cuda without the provider falls back to cpu with a hint', () => {
  const help = kvopt('generate', '--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Examples:/);
  assert.match(help.stdout, /--max-new-tokens/);
  const cuda = kvopt('generate', '--model', modelPath, '--max-new-tokens', '5', '--device', 'cuda');
  assert.equal(cuda.status, 0, cuda.stderr);
  assert.ok(cuda.stdout.length > 0);
  // on machines without the CUDA provider: one line naming the install command
  if (cuda.stderr) {
    assert.match(cuda.stderr, /running on cpu instead/);
    assert.match(cuda.stderr, /--onnxruntime-node-install=cuda12/);
    assert.equal(cuda.stderr.trim().split('\n').length, 1);
  }
});

test('kvopt bench runtime --json on random:tiny reports consistent figures', () => {
  const r = kvopt(
    'bench',
    'runtime',
    '--model',
    'random:tiny',
    '--json',
    '--prompt-tokens',
    '24',
    '--decode-tokens',
    '3',
    '--batch',
    '2',
    '--threads',
    '1',
    '--bandwidth-mib',
    '16',
  );
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  // tinySpec: L 2, Hkv 2, hd 8 → 2·2·2·8·4 bytes per token
  assert.equal(j.kvBytesPerToken, 256);
  assert.equal(j.promptTokens, 24);
  assert.equal(j.batch, 2);
  for (const k of ['prefillTokensPerSec', 'decodeTokensPerSecBatch1', 'decodeTokensPerSecBatchN', 'peakRssBytes', 'graphBuildColdMs', 'memoryBandwidthGBs']) {
    assert.ok(j[k] > 0, `${k} = ${j[k]}`);
  }
  assert.equal(j.weightBytes, j.parameters * 4);
  // tinySpec by hand: embed 64·32; per layer wq 32·32, wk 32·16, wv 32·16, wo 32·32, gate/up/down 3·32·48,
  // two norms 2·32; final norm 32; untied lm head 64·32
  assert.equal(j.parameters, 64 * 32 + 2 * (1024 + 512 + 512 + 1024 + 3 * 1536 + 64) + 32 + 64 * 32);
  // the roofline: bandwidth over the bytes one step reads (weights + KV at the mean context 24 + 3/2)
  assert.ok(Math.abs(j.decodeBoundTokensPerSec - (j.memoryBandwidthGBs * 1e9) / (j.weightBytes + 256 * 25.5)) <= 1e-9 * j.decodeBoundTokensPerSec);
  // tokens/s over the loop cannot beat every step being the fastest one
  for (const [tps, steps, b] of [
    [j.decodeTokensPerSecBatch1, j.decodeStepMsBatch1, 1],
    [j.decodeTokensPerSecBatchN, j.decodeStepMsBatchN, 2],
  ]) {
    assert.ok(steps.min > 0 && steps.min <= steps.median, JSON.stringify(steps));
    assert.ok(tps <= ((b * 1000) / steps.min) * (1 + 1e-9), `${tps} tokens/s vs fastest step ${steps.min} ms`);
  }
});
