// Device requests and the one-GPU-worker-per-process rule (runtime/device.ts), without a GPU: parsing of
// `webgpu!` in flags and config files, --dtype, pool sizing, the config hash (strictness is not part of a run's
// identity, dtype is), and the CLI's one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExperiment } from '../../src/config/load.ts';
import { applyOverrides } from '../../src/config/overrides.ts';
import { configHash } from '../../src/config/hash.ts';
import { sizePool } from '../../src/engine/pool.ts';
import { parseDeviceRequest, workersForDevice } from '../../src/runtime/device.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { kvopt } from '../engine/cli-run.ts';

const MIN = (device: string) => `name: t
model:
  path: ../models/tiny
  device: ${device}
tasks:
  - name: needle
    data: ../datasets/needle.jsonl
`;
const parse = (device: string) => parseExperiment(MIN(device), 'experiments/x.yaml', { cwd: '/proj' });

test('device requests: a trailing ! requires the GPU; unknown names fail naming the flag or field', () => {
  assert.deepEqual(parseDeviceRequest('webgpu'), { device: 'webgpu', required: false });
  assert.deepEqual(parseDeviceRequest('webgpu!'), { device: 'webgpu', required: true });
  assert.deepEqual(parseDeviceRequest('cuda!'), { device: 'cuda', required: true });
  assert.throws(
    () => parseDeviceRequest('gpu'),
    (e: Error) => e instanceof KvoptError && /^--device: expected one of cpu, cuda, webgpu/.test(e.message),
  );
  const c = parse('webgpu!');
  assert.equal(c.model.device, 'webgpu');
  assert.equal(c.model.requireDevice, true);
  assert.equal(parse('webgpu').model.requireDevice, false);
  assert.throws(
    () => parse('vulkan'),
    (e: Error) => e instanceof KvoptError && /model\.device/.test(e.message),
  );
  // strictness does not change results: same hash; dtype does
  assert.equal(configHash(parse('webgpu!')), configHash(parse('webgpu')));
  const o = applyOverrides(parse('cpu'), { device: 'webgpu!', dtype: 'fp16' });
  assert.deepEqual([o.model.device, o.model.requireDevice, o.model.dtype], ['webgpu', true, 'fp16']);
  assert.notEqual(configHash(o), configHash(applyOverrides(parse('cpu'), { device: 'webgpu' })));
  assert.throws(
    () => applyOverrides(parse('cpu'), { dtype: 'bf16' }),
    (e: Error) => e instanceof KvoptError && /^--dtype: expected one of fp32, fp16/.test(e.message),
  );
});

test('pool sizing: GPU devices get exactly one worker with every core; the CPU keeps what was asked', () => {
  assert.equal(workersForDevice('webgpu', 4), 1);
  assert.equal(workersForDevice('cuda', 2), 1);
  assert.equal(workersForDevice('cpu', 3), 3);
  const gpu = sizePool(3, 2, 'webgpu');
  assert.equal(gpu.workers, 1);
  assert.equal(gpu.reducedFrom, 3);
  assert.equal(sizePool('auto', 2, 'webgpu').reducedFrom, undefined, 'auto is not a request to report');
  const cpu = sizePool(2, 2, 'cpu');
  assert.equal(cpu.workers, 2);
  assert.equal(cpu.reducedFrom, undefined);
});

test('CLI: bad --device and --dtype values are one-line errors', () => {
  const model = ['--model', 'random:tiny'];
  for (const [args, re] of [
    [['bench', 'runtime', ...model, '--device', 'gpu'], /^kvopt: --device: expected one of cpu, cuda, webgpu/],
    [['bench', 'runtime', ...model, '--dtype', 'bf16'], /^kvopt: --dtype: expected fp32 or fp16, got 'bf16'/],
    [['eval', '--config', 'experiments/quickstart.yaml', '--dtype', 'int8'], /^kvopt: --dtype: expected one of fp32, fp16, got "int8"/],
  ] as [string[], RegExp][]) {
    const r = kvopt(args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr.trim(), re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
