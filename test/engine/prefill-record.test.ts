/**
 * Prefill records on disk: lossless round trips (float32, and float16 K/V of an fp16 graph), and a key that keeps
 * prefills of different precision, device or chunking apart, so a run never scores on another run's prefill.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserializePrefill, prefillKey, serializePrefill } from '../../src/engine/prefill-cache.ts';
import { graphKey } from '../../src/graph/cache.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';
import { loadModel } from '../../src/model/load.ts';
import type { PrefillRecord } from '../../src/runtime/types.ts';
import { count, kvopt, repoRoot } from './cli-run.ts';
import { record } from '../compress/helpers.ts';

/** Every array of the record, by name, for bitwise comparison. */
function arrays(r: PrefillRecord): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = { lastLogits: r.lastLogits };
  r.cache.layers.forEach((l, i) => Object.assign(out, { [`k${i}`]: l.keys, [`v${i}`]: l.values, [`b${i}`]: l.bias }));
  r.windowAttention.forEach((a, i) => (out[`w${i}`] = a));
  r.attentionColumnSums.forEach((a, i) => (out[`c${i}`] = a));
  return out;
}

function assertSameRecord(a: PrefillRecord, b: PrefillRecord): void {
  assert.deepEqual(b.tokens, a.tokens);
  assert.equal(b.window, a.window);
  assert.equal(b.cache.nextPosition, a.cache.nextPosition);
  const [x, y] = [arrays(a), arrays(b)];
  assert.deepEqual(Object.keys(y), Object.keys(x));
  for (const k of Object.keys(x)) assert.deepEqual(Array.from(y[k]), Array.from(x[k]), `${k} differs`);
}

test('prefill record: float32 round trip is bitwise, attention bias restored as zeros', () => {
  const r = record({ T: 37, window: 5, Hq: 4, Hkv: 2, hd: 8, L: 3 });
  assertSameRecord(r, deserializePrefill(serializePrefill(r)));
  const masked = record({ T: 8, window: 2, Hq: 2, Hkv: 1, hd: 4, L: 1 });
  masked.cache.layers[0].bias[3] = -Infinity;
  assert.throws(() => serializePrefill(masked), /masked entry/);
});

test('prefill record: an fp16 graph stores its K/V as float16, bit for bit, in about half the K/V bytes', async () => {
  const model = await loadModel(join(repoRoot, 'models/tiny'));
  const runtime = await ModelRuntime.create(model, { graphOptions: { precision: 'fp16' } });
  try {
    const tokens = Array.from({ length: 120 }, (_, i) => 3 + ((i * 7) % 50));
    const r = await runtime.prefill(tokens, { window: 16, chunkSize: 64 });
    const half = serializePrefill(r, 'float16');
    assertSameRecord(r, deserializePrefill(half));
    const full = serializePrefill(r, 'float32');
    const kvBytes = r.cache.layers.reduce((n, l) => n + l.keys.byteLength + l.values.byteLength, 0);
    assert.ok(Math.abs(full.length - half.length - kvBytes / 2) < 64, `float16 K/V save half their bytes: ${full.length} → ${half.length}`);
  } finally {
    await runtime.release();
  }
});

test('prefill key: the graph (weights, options such as the precision, builder version), device, chunk size, window and tokens each make another key', () => {
  const id = { graphKey: graphKey('w', { precision: 'fp32' }), device: 'cpu', chunkSize: 512 };
  const k = prefillKey(id, [1, 2, 3], 32);
  assert.equal(prefillKey({ ...id }, [1, 2, 3], 32), k);
  const otherGraphs = [graphKey('w', { precision: 'fp16' }), graphKey('w', { precision: 'fp32', presentOutputs: false }), graphKey('v', { precision: 'fp32' })];
  for (const other of [...otherGraphs.map((g) => ({ graphKey: g })), { device: 'webgpu' }, { chunkSize: 256 }]) {
    assert.notEqual(prefillKey({ ...id, ...other }, [1, 2, 3], 32), k, JSON.stringify(other));
  }
  assert.notEqual(prefillKey(id, [1, 2, 3], 16), k);
  assert.notEqual(prefillKey(id, [1, 2, 4], 32), k);
});

test('prefill cache: an fp16 run beside an fp32 run prefills its own samples and scores as a fresh fp16 run does', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-precision-'));
  try {
    const args = (db: string, dtype: string) => [
      'eval',
      '--config',
      'experiments/quickstart.yaml',
      '--db',
      db,
      '--samples',
      '2',
      '--dtype',
      dtype,
      '--json',
      `${db}.json`,
      '--quiet',
    ];
    const shared = join(dir, 'shared.db');
    for (const [db, dtype] of [
      [shared, 'fp32'],
      [shared, 'fp16'],
      [join(dir, 'fresh.db'), 'fp16'],
    ]) {
      const r = kvopt(args(db, dtype));
      assert.equal(r.status, 0, r.stderr);
    }
    // Two runs in the shared database, each with its own prefills (2 samples × 2 settings).
    assert.equal(count(shared, 'SELECT COUNT(*) AS n FROM prefills p JOIN runs r ON r.id = p.run_id WHERE r.id = 2'), 4);
    const rows = (db: string) =>
      (
        JSON.parse(readFileSync(`${db}.json`, 'utf8')).rows as { method: string; budget: string; setting: string; meanScore: number; meanKvBytes: number }[]
      ).map((x) => [x.setting, x.method, x.budget, x.meanScore, x.meanKvBytes]);
    assert.deepEqual(rows(shared), rows(join(dir, 'fresh.db')));
    assert.equal(readdirSync(join(dir, 'prefill-cache')).length > 0, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
