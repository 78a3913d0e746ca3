/**
 * Real sizes without the memory to hold them: an fp16 graph is built with its weights streamed (generated tensor by
 * tensor, converted and written at once), so the build's peak memory is far below the float32 size; random:8b (an
 * 8B-shaped Llama) says in one line, before allocating anything, that it does not fit and what it needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tinySpec } from '../../src/model/random.ts';
import { lazyRandomWeights, parameterCountOfSpec } from '../../src/model/random-lazy.ts';
import { parameterCount } from '../../src/model/spec.ts';
import { hardwareGpuPresent, memoryPlan } from '../../src/runtime/memory-plan.ts';
import { RANDOM_PRESETS } from '../../src/runtime/in-memory-model.ts';
import { kvopt, repoRoot } from '../engine/cli-run.ts';

test('lazy random weights: deterministic per tensor, the spec-only parameter count equals the counted one', () => {
  const spec = tinySpec({ attentionBias: true, tieWordEmbeddings: false });
  const a = lazyRandomWeights(spec, 3);
  const b = lazyRandomWeights(spec, 3);
  assert.deepEqual(a.layers[1].wq, b.layers[1].wq);
  assert.notDeepEqual(a.layers[0].wq, a.layers[1].wq);
  assert.equal(parameterCountOfSpec(spec), parameterCount(a));
  // the presets are the published shapes: Llama-3.2-1B 1.24B, Llama-3.1-8B 8.03B parameters
  assert.equal(parameterCountOfSpec(tinySpec(RANDOM_PRESETS['1b'])), 1_235_814_400);
  assert.equal(parameterCountOfSpec(tinySpec(RANDOM_PRESETS['8b'])), 8_030_261_248);
});

test('a 420M-parameter fp16 graph builds streamed: data = 2 bytes/parameter, peak RSS < half the float32 weights', { timeout: 600_000 }, (t) => {
  const overrides = {
    vocabSize: 32000,
    hiddenSize: 2048,
    intermediateSize: 5632,
    numLayers: 8,
    numHeads: 16,
    numKvHeads: 4,
    headDim: 128,
    tieWordEmbeddings: true,
  };
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/gpu/build-child.ts', JSON.stringify(overrides)], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 590_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const b = JSON.parse(r.stdout);
  t.diagnostic(
    `${(b.parameters / 1e6).toFixed(0)}M parameters: data ${(b.graphDataBytes / 2 ** 20).toFixed(0)} MiB, peak RSS ${(b.peakRssBytes / 2 ** 20).toFixed(0)} MiB, fp32 weights ${(b.fp32WeightBytes / 2 ** 20).toFixed(0)} MiB, ${(b.graphBuildColdMs / 1000).toFixed(1)} s (load ${b.loadAverage.toFixed(1)})`,
  );
  assert.equal(b.parameters, parameterCountOfSpec(tinySpec(overrides)));
  assert.ok(b.graphDataBytes >= 2 * b.parameters && b.graphDataBytes < 2 * b.parameters + 2 ** 20, `data ${b.graphDataBytes} for ${b.parameters} parameters`);
  assert.ok(b.peakRssBytes < 0.5 * b.fp32WeightBytes, `peak RSS ${b.peakRssBytes} vs fp32 ${b.fp32WeightBytes}`);
});

test('random:8b fp16: one line before allocating, naming what it needs and what is available', (t) => {
  const plan = memoryPlan(tinySpec(RANDOM_PRESETS['8b']), 'fp16', 'cpu', 8192 + 32, 10);
  // W_o kept in float32 for the value norms: 32 layers of a 4096 × 4096 o_proj; its device copy counts in RAM too
  // when WebGPU runs on a software adapter
  assert.equal(plan.outputProjectionBytes, 32 * 4096 * 4096 * 4);
  const onWebgpu = memoryPlan(tinySpec(RANDOM_PRESETS['8b']), 'fp16', 'webgpu', 8192 + 32, 10);
  assert.equal(onWebgpu.outputProjectionBytes, (hardwareGpuPresent() ? 1 : 2) * 32 * 4096 * 4096 * 4);
  if (plan.hostBytesNeeded <= plan.hostBytesAvailable) {
    t.skip(`this machine has ${(plan.hostBytesAvailable / 2 ** 30).toFixed(0)} GiB available: random:8b fits here`);
    return;
  }
  const t0 = Date.now();
  const r = kvopt(['bench', 'runtime', '--model', 'random:8b', '--dtype', 'fp16', '--prompt-tokens', '8192']);
  assert.equal(r.status, 1, r.stderr);
  const line = r.stderr.trim();
  assert.equal(line.split('\n').length, 1, line);
  assert.match(
    line,
    /^kvopt: random:8b \(fp16\) does not fit: it needs about [\d.]+ GiB of memory \(15\.0 GiB weights, [\d.]+ GiB KV at 8224 tokens, 2\.0 GiB W_o in float32 for value norms, 1 GiB runtime\) and [\d.]+ GiB is available$/,
  );
  assert.ok(Date.now() - t0 < 60_000, 'the check ran before any generation or build');
});
