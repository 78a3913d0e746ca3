/**
 * The GPU path on WebGPU, run for real on whatever Vulkan adapter the machine has (in CI: Mesa's lavapipe, a
 * software GPU, ≈50× slower than the CPU provider, so these tests stay small). Under CI or KVOPT_REQUIRE_WEBGPU=1
 * an unavailable WebGPU fails them (test/helpers/webgpu.ts).
 *
 * - stories260K greedy on WebGPU = the CPU provider's tokens (200, llama2.c's test length), whose first 30 equal
 *   the independent naive reference (which reproduces llama2.c's run.c, test/model/stories260k.test.ts);
 * - device-resident decode (present K/V and kv_bias kept as GPU buffers) = host-resident decode, token for token;
 * - the quickstart on WebGPU with the default worker count (2 → 1 GPU worker, never a segfault) gives the CPU's table;
 *   the prefill logits of a quickstart prompt agree within 1e-3;
 * - a short search on WebGPU killed with SIGKILL and resumed reaches the uninterrupted run's profile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';
import { naiveForward } from '../reference/naive-llama.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';
import { needWebgpu } from '../helpers/webgpu.ts';
import { randomTokens, testCacheDir, tinyModel } from '../runtime/helpers.ts';
import { count, killWhen, kvopt, repoRoot } from '../engine/cli-run.ts';

const argmax = (x: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
};

test('WebGPU: stories260K greedy (200 tokens from BOS) = CPU provider = naive reference (first 30)', { timeout: 300_000 }, async (t) => {
  if (!needWebgpu(t)) return;
  const model = await loadModel(sharedDataPath('stories260K', 'stories260K.bin'), { tokenizer: sharedDataPath('stories260K', 'tok512.bin') });
  const gpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, device: 'webgpu', requireDevice: true });
  assert.equal(gpu.device, 'webgpu');
  const cpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1 });
  const opts = { maxNewTokens: 200, stopTokens: [] };
  const g = await gpu.generate(null, [1], opts);
  const c = await cpu.generate(null, [1], opts);
  assert.equal(g.tokens.length, 200);
  assert.deepEqual(g.tokens, c.tokens, 'WebGPU and CPU greedy tokens differ');
  const naive = [1];
  for (let i = 0; i < 30; i++) naive.push(argmax(naiveForward(model.spec, model.weights, naive).logits.at(-1)!));
  assert.deepEqual(g.tokens.slice(0, 30), naive.slice(1));
  assert.match(model.tokenizer!.decode(g.tokens), /^Once upon a time, there was a little girl named Lily/);
  await gpu.release();
  await cpu.release();
});

test('WebGPU: decode keeps the cache on the device: at a 2k context < 2 % of the cache bytes cross per step; tokens = host-resident CPU', {
  timeout: 300_000,
}, async (t) => {
  if (!needWebgpu(t)) return;
  const model = tinyModel({ maxPositionEmbeddings: 4096, vocabSize: 256, hiddenSize: 64, numHeads: 4, numKvHeads: 2, headDim: 16 }, 12);
  const gpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, device: 'webgpu', requireDevice: true });
  const cpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1 });
  assert.equal(gpu.deviceResident, true);
  const prompt = randomTokens(2048, 256, 4);
  const rec = await gpu.prefill(prompt, { window: 8 });
  const cache = await gpu.hostCache(rec); // decode from host caches: the first step uploads them
  const perStep: number[] = [];
  let before = gpu.io.hostToDevice + gpu.io.deviceToHost;
  const onStep = () => {
    const now = gpu.io.hostToDevice + gpu.io.deviceToHost;
    perStep.push(now - before);
    before = now;
  };
  const opts = { maxNewTokens: 6, stopTokens: [], lastLogits: [rec.lastLogits] };
  const g = await gpu.generate(cache, [], { ...opts, onStep });
  const c = await cpu.generate(cache, [], opts);
  assert.deepEqual(g.tokens, c.tokens);
  const { numLayers: L, numKvHeads: Hkv, headDim: hd } = model.spec;
  const cacheBytes = 2 * L * Hkv * hd * 4 * 2048;
  t.diagnostic(`bytes per decode step: first ${perStep[0]} (uploads the cache), then ${perStep.slice(1).join(', ')}; cache ${cacheBytes} bytes`);
  assert.ok(perStep[0] >= cacheBytes, 'the first step uploads the cache');
  for (const b of perStep.slice(1)) assert.ok(b < 0.02 * cacheBytes, `${b} bytes per step ≥ 2 % of ${cacheBytes}`);
  await gpu.release();
  await cpu.release();
});

test('WebGPU fp16 (shader-f16): models/tiny fp16 greedy on WebGPU = fp16 on the CPU provider; logits within 0.3 % of max |logit|', {
  timeout: 300_000,
}, async (t) => {
  if (!needWebgpu(t)) return;
  const model = await loadModel(join(repoRoot, 'models/tiny'));
  const doc = JSON.parse(readFileSync(join(repoRoot, 'datasets/retrieval/retrieval.jsonl'), 'utf8').split('\n')[1]).context as string;
  const prompt = model.tokenizer!.encode(doc, { addBos: true }).slice(0, 96);
  const fp16 = { precision: 'fp16' as const };
  const gpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, device: 'webgpu', requireDevice: true, graphOptions: fp16 });
  const cpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1, graphOptions: fp16 });
  const a = await gpu.prefill(prompt);
  const b = await cpu.prefill(prompt);
  let maxErr = 0;
  let scale = 0;
  for (let i = 0; i < a.lastLogits.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(a.lastLogits[i] - b.lastLogits[i]));
    scale = Math.max(scale, Math.abs(b.lastLogits[i]));
  }
  t.diagnostic(`fp16 WebGPU vs fp16 CPU: max |Δ logit| ${maxErr.toExponential(2)} (max |logit| ${scale.toFixed(1)})`);
  assert.ok(maxErr < 0.003 * scale, `max |Δ logit| ${maxErr}`);
  const opts = { maxNewTokens: 16, stopTokens: [] };
  assert.deepEqual((await gpu.generate(null, prompt, opts)).tokens, (await cpu.generate(null, prompt, opts)).tokens);
  await gpu.release();
  await cpu.release();
});

test('WebGPU: quickstart eval with default workers = the CPU table; prefill logits within 1e-3', { timeout: 400_000 }, async (t) => {
  if (!needWebgpu(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-webgpu-quickstart-'));
  const run = (device: string) => {
    const r = kvopt([
      'eval',
      '--config',
      'experiments/quickstart.yaml',
      '--device',
      device,
      '--samples',
      '2',
      '--db',
      join(dir, `${device}.db`),
      '--json',
      join(dir, `${device}.json`),
      '--quiet',
    ]);
    assert.equal(r.status, 0, `${device}: exit ${r.status}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /running on cpu instead/);
    return JSON.parse(readFileSync(join(dir, `${device}.json`), 'utf8')).rows as Record<string, unknown>[];
  };
  const strip = (rows: Record<string, unknown>[]) => rows.map(({ run: _r, ...x }) => x).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  const gpuRows = run('webgpu!');
  const cpuRows = run('cpu');
  assert.equal(gpuRows.length, 26);
  assert.deepEqual(strip(gpuRows), strip(cpuRows));

  // logits of a quickstart prompt: WebGPU vs CPU
  const model = await loadModel(join(repoRoot, 'models/tiny'));
  const doc = JSON.parse(readFileSync(join(repoRoot, 'datasets/retrieval/retrieval.jsonl'), 'utf8').split('\n')[0]).context as string;
  const prompt = model.tokenizer!.encode(doc, { addBos: true }).slice(0, 256);
  const gpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, device: 'webgpu', requireDevice: true });
  const cpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1 });
  const a = await gpu.prefill(prompt, { window: 16 });
  const b = await cpu.prefill(prompt, { window: 16 });
  let maxErr = 0;
  for (let i = 0; i < a.lastLogits.length; i++) maxErr = Math.max(maxErr, Math.abs(a.lastLogits[i] - b.lastLogits[i]));
  t.diagnostic(`max |logit(WebGPU) − logit(CPU)| = ${maxErr.toExponential(2)} over ${a.lastLogits.length} logits`);
  assert.ok(maxErr < 1e-3, `max |logit(WebGPU) − logit(CPU)| = ${maxErr}`);
  let statErr = 0;
  for (let l = 0; l < a.windowAttention.length; l++) {
    for (let i = 0; i < a.windowAttention[l].length; i++) statErr = Math.max(statErr, Math.abs(a.windowAttention[l][i] - b.windowAttention[l][i]));
  }
  t.diagnostic(`max |attention row(WebGPU) − (CPU)| = ${statErr.toExponential(2)}`);
  assert.ok(statErr < 1e-4, `max |attention(WebGPU) − attention(CPU)| = ${statErr}`);
  await gpu.release();
  await cpu.release();
});

test('WebGPU: a search killed with SIGKILL and resumed reaches the uninterrupted profile (workers 2 → 1 GPU worker)', { timeout: 600_000 }, async (t) => {
  if (!needWebgpu(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-webgpu-search-'));
  const config = join(dir, 'search.yaml');
  writeFileSync(
    config,
    `name: webgpu-search-resume
model:
  path: ${sharedDataPath('stories260K', 'stories260K.bin')}
  tokenizer: ${sharedDataPath('stories260K', 'tok512.bin')}
  device: webgpu!
tasks:
  - name: continuation
    data: ${join(repoRoot, 'datasets/stories260k-samples.jsonl')}
    samples: 3
    heldout: 1
    seed: 5
    options: { contextTokens: 96, continuationTokens: 8 }
setting: question-agnostic
search:
  scorer: snapkv
  budget: 24
  group_size: 5
  generations: 3
  population: 3
  fitness: task
  seed: 11
window: 16
workers: 2
`,
  );
  const a = kvopt(['search', '--config', config, '--db', join(dir, 'a.db'), '--json', join(dir, 'a.json')]);
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stderr, /1 worker instead of 2/);
  const ra = JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8'));
  assert.equal(ra.generations.length, 3);

  const dbB = join(dir, 'b.db');
  await killWhen(['search', '--config', config, '--db', dbB, '--quiet'], () => count(dbB, 'SELECT COUNT(*) AS n FROM generations'), 1);
  const stored = count(dbB, 'SELECT COUNT(*) AS n FROM generations');
  assert.ok(stored >= 1 && stored < 3, `killed with ${stored} generations stored`);
  const b = kvopt(['search', '--config', config, '--db', dbB, '--resume', '--json', join(dir, 'b.json'), '--quiet']);
  assert.equal(b.status, 0, b.stderr);
  const rb = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8'));
  const strip = (gs: Record<string, unknown>[]) => gs.map(({ id: _i, runId: _r, createdAt: _c, wallMs: _w, prefillMs: _p, decodeMs: _d, ...g }) => g);
  assert.deepEqual(strip(rb.generations), strip(ra.generations));
  const profiles = (r: { profiles: { budgets: number[]; fitness: number }[] }) => r.profiles.map((p) => [p.budgets, p.fitness]);
  assert.deepEqual(profiles(rb), profiles(ra));
});
