/**
 * The `run` side of scripts/gpu-check (the packed GPU check), on this machine's WebGPU adapter (lavapipe in CI):
 * `scripts/gpu-check run --quick` must print one JSON object of the shape the far side's report is read from,
 * and exit 0 when WebGPU works and stories260K matches the CPU. The `pack` side (a ~58 MiB archive of node,
 * onnxruntime and the project) is not run here: it takes minutes and the space of a full copy; its size limit
 * is checked by the script itself when it packs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needWebgpu } from '../helpers/webgpu.ts';
import { repoRoot } from '../helpers/shared-data.ts';
import { openModel } from '../../src/runtime/model-ref.ts';

test('scripts/gpu-check without a command prints its usage and exits 2', () => {
  const r = spawnSync('bash', ['scripts/gpu-check'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stdout, /gpu-check pack/);
  assert.match(r.stdout, /gpu-check run/);
});

test('scripts/gpu-check run --quick: one JSON object; WebGPU works, stories260K matches, the bench reports the device bytes', {
  timeout: 300_000,
}, async (t) => {
  if (!needWebgpu(t)) return;
  const r = spawnSync('bash', ['scripts/gpu-check', 'run', '--quick'], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, KVOPT_CACHE_DIR: mkdtempSync(join(tmpdir(), 'kvopt-gpu-check-test-')) },
    maxBuffer: 1 << 24,
  });
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${(r.stderr ?? '').split('\n').slice(-5).join('\n')}`);
  const out = JSON.parse(r.stdout);
  assert.equal(out.quick, true);
  assert.deepEqual(out.webgpu, { ok: true });
  assert.equal(out.stories260K.tokens, 40);
  assert.equal(out.stories260K.match, true);
  assert.match(out.stories260K.text, /^Once upon a time/);
  const bench = out.bench['random:tiny'];
  assert.ok(!('error' in bench), `random:tiny bench failed: ${bench.error}`);
  assert.equal(bench.device, 'webgpu');
  assert.equal(bench.dtype, 'fp16');
  assert.equal(bench.deviceResidentCache, true);
  assert.equal(bench.promptTokens, 64);
  for (const k of ['prefillTokensPerSec', 'decodeTokensPerSecBatch1', 'decodeTokensPerSecBatchN']) assert.ok(bench[k] > 0, `${k} = ${bench[k]}`);
  // kept indices only: int32 per entry per KV head per layer, nothing down
  const { spec } = await openModel('random:tiny');
  assert.equal(bench.gatherHostToDeviceBytes, spec.numLayers * spec.numKvHeads * 64 * 4);
  assert.equal(bench.gatherDeviceToHostBytes, 0);
  // value norms on the device: the float32 norms come down, never the cache; W_o per head and a token range go up
  assert.equal(bench.valueNormsDeviceToHostBytes, spec.numLayers * spec.numKvHeads * 64 * 4);
  assert.equal(bench.valueNormsHostToDeviceBytes, spec.numLayers * (spec.numHeads * spec.headDim * spec.hiddenSize * 4 + 16));
  assert.ok(bench.hostDeviceBytesPerStep < 0.02 * bench.cacheBytesAtContext || bench.cacheBytesAtContext < 2 ** 20, 'per-step bytes');
});
